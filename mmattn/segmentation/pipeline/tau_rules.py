# Copyright (c) mmattn contributors. All rights reserved.
"""Rules that choose the selection threshold ``tau`` of Eq. 9 (an image's
proxy is trained on when its score is ``>= tau``).

Without ground truth:

- ``fixed``: the given value (the paper's: ``SF >= 0.55`` for VGG16,
  ``0.85`` for ResNet-101).
- ``keep-fraction``: keep the best-scored fraction ``f`` of the training
  images: ``tau`` is the ``ceil(f * N)``-th highest score (ties at ``tau``
  are kept too, so slightly more may pass).
- ``mixture``: fit a two-component Gaussian mixture to the scores (EM, 1-D)
  and put ``tau`` where an image becomes more likely to belong to the upper
  ("good proxy") component than to the lower one, between the two means.

With the val split's proxies and ground truth (``val-proxy``): the val
proxies are scored exactly like the training proxies, and each one's true
quality is its class-aware accuracy score against the ground truth
(``AC_gt_cls``: Eq. 3 where a pixel overlaps only with the right class).
A proxy is *good* when that quality is ``>= good_quality`` (0.8, the
positive threshold of the scorer's training set). ``tau`` is the val score
that separates good from bad proxies best: the threshold maximising
Youden's J = true-positive rate - false-positive rate of "score >= tau"
as a detector of good proxies (ties: the lowest such threshold, which keeps
the most images). The ideal val-based rule, training one SAL-Net per
candidate ``tau`` and keeping the best val mIoU, costs one training per
candidate; this rule costs one scoring pass over the val proxies.
"""
import math
from typing import Dict, Sequence

import numpy as np

__all__ = [
    'TAU_RULES', 'keep_fraction_tau', 'fit_two_gaussians', 'mixture_tau',
    'val_proxy_tau', 'describe_rule'
]

TAU_RULES = ('keep-fraction', 'mixture', 'val-proxy', 'fixed')


def _scores_array(scores: Sequence[float], what: str = 'scores'):
    values = np.asarray(list(scores), dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f'{what}: need at least one score')
    if not np.isfinite(values).all():
        raise ValueError(f'{what}: scores must be finite')
    return values


def keep_fraction_tau(scores: Sequence[float], fraction: float) -> dict:
    """``tau`` that keeps the best-scored ``fraction`` of the images.

    Args:
        scores (Sequence[float]): One score per training image.
        fraction (float): In ``(0, 1]``.

    Returns:
        dict: ``tau`` (the ``ceil(fraction * N)``-th highest score) and
        ``target_kept`` (that count).

    Raises:
        ValueError: ``fraction`` outside ``(0, 1]`` or no scores.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'--keep-fraction must be in (0, 1], got {fraction}')
    values = np.sort(_scores_array(scores))[::-1]
    n_keep = max(1, int(math.ceil(fraction * len(values) - 1e-9)))
    return dict(tau=float(values[n_keep - 1]), target_kept=n_keep)


def _log_normal(x: np.ndarray, mean: np.ndarray, var: np.ndarray):
    return -0.5 * ((x - mean)**2 / var + np.log(2 * np.pi * var))


def fit_two_gaussians(scores: Sequence[float],
                      max_iters: int = 500,
                      tol: float = 1e-10,
                      min_std: float = 0.01) -> dict:
    """Two-component 1-D Gaussian mixture by EM, started at the 25th and
    75th percentiles with the data's variance and equal weights.

    Args:
        scores (Sequence[float]): The data.
        max_iters (int): EM iterations at most.
        tol (float): Stop when the mean log-likelihood improves less.
        min_std (float): Floor of each component's standard deviation.

    Returns:
        dict: ``weights``, ``means``, ``stds`` (low component first) and
        ``log_likelihood`` (mean per point).

    Raises:
        ValueError: Fewer than 4 scores, or scores (nearly) all equal.
    """
    x = _scores_array(scores)
    if len(x) < 4:
        raise ValueError(f'a two-component mixture needs at least 4 scores, '
                         f'got {len(x)}')
    low, high = np.percentile(x, [25, 75])
    if high - low < 1e-6:
        raise ValueError('the scores are (nearly) all equal: no two groups '
                         'to separate')
    floor = min_std**2
    means = np.array([low, high])
    var = np.full(2, max(float(x.var()), floor))
    weights = np.array([0.5, 0.5])
    previous = -np.inf
    log_lik = previous
    for _ in range(max_iters):
        joint = _log_normal(x[:, None], means, var) + np.log(weights)
        top = joint.max(axis=1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        resp = np.exp(joint - norm[:, None])
        log_lik = float(norm.mean())
        counts = resp.sum(axis=0)
        if (counts < 1e-9).any():
            break
        weights = counts / len(x)
        means = (resp * x[:, None]).sum(axis=0) / counts
        var = np.maximum((resp * (x[:, None] - means)**2).sum(axis=0) /
                         counts, floor)
        if log_lik - previous < tol:
            break
        previous = log_lik
    order = np.argsort(means)
    return dict(
        weights=weights[order].tolist(),
        means=means[order].tolist(),
        stds=np.sqrt(var[order]).tolist(),
        log_likelihood=log_lik)


def mixture_tau(scores: Sequence[float]) -> dict:
    """``tau`` where the upper component of a two-Gaussian fit becomes the
    more likely one, searched between the two means (step 1e-4).

    Returns:
        dict: ``tau`` and the fit (:func:`fit_two_gaussians`).

    Raises:
        ValueError: The fit does not separate two groups (see the
            message); use another rule.
    """
    fit = fit_two_gaussians(scores)
    (w0, w1), (m0, m1), (s0, s1) = fit['weights'], fit['means'], fit['stds']
    if m1 - m0 < 1e-3:
        raise ValueError(
            f'the two-component fit found no two groups of scores (means '
            f'{m0:.4f} and {m1:.4f}); use --tau-rule keep-fraction')
    grid = np.arange(m0, m1 + 1e-4, 1e-4)
    log_low = _log_normal(grid, m0, s0**2) + math.log(w0)
    log_high = _log_normal(grid, m1, s1**2) + math.log(w1)
    above = np.flatnonzero(log_high >= log_low)
    if len(above) == 0 or above[0] == 0:
        raise ValueError(
            'the two-component fit does not switch from the lower to the '
            f'upper component between the means ({m0:.4f}, {m1:.4f}; '
            f'weights {w0:.3f}, {w1:.3f}, stds {s0:.4f}, {s1:.4f}); use '
            '--tau-rule keep-fraction')
    return dict(tau=float(grid[above[0]]), mixture=fit)


def val_proxy_tau(val_scores: Sequence[float],
                  val_quality: Sequence[float],
                  good_quality: float = 0.8) -> dict:
    """``tau`` that best tells good val proxies from bad ones (Youden's J).

    Args:
        val_scores (Sequence[float]): The val proxies' scores (the same
            score as the training images are selected on).
        val_quality (Sequence[float]): Their true quality against the
            ground truth (``AC_gt_cls``), same order.
        good_quality (float): A proxy with quality ``>=`` this is good.

    Returns:
        dict: ``tau``, ``youden_j``, ``true_positive_rate``,
        ``false_positive_rate``, ``num_good``, ``num_bad`` and ``table``
        (``[tau, J]`` of every candidate, ascending ``tau``).

    Raises:
        ValueError: Lengths differ, or the val proxies are all good or all
            bad (nothing to separate; the message gives the counts).
    """
    scores = _scores_array(val_scores, 'val scores')
    quality = _scores_array(val_quality, 'val proxy quality')
    if len(scores) != len(quality):
        raise ValueError(f'{len(scores)} val scores but {len(quality)} '
                         'quality values')
    good = quality >= good_quality
    n_good, n_bad = int(good.sum()), int((~good).sum())
    if n_good == 0 or n_bad == 0:
        raise ValueError(
            f'the val split has {n_good} good and {n_bad} bad proxies '
            f'(class-aware AC against the ground truth >= {good_quality}): '
            'nothing to separate, so val-proxy cannot place tau; use '
            '--tau-rule keep-fraction or mixture, or change --good-quality')
    table = []
    best = None
    for tau in np.unique(scores):  # ascending: ties keep the lowest tau
        kept = scores >= tau
        tpr = float((kept & good).sum() / n_good)
        fpr = float((kept & ~good).sum() / n_bad)
        j = tpr - fpr
        table.append([float(tau), j])
        if best is None or j > best[1] + 1e-12:
            best = (float(tau), j, tpr, fpr)
    tau, j, tpr, fpr = best
    return dict(tau=tau, youden_j=j, true_positive_rate=tpr,
                false_positive_rate=fpr, num_good=n_good, num_bad=n_bad,
                good_quality=good_quality, table=table)


def describe_rule(rule: str, params: Dict[str, float]) -> str:
    """One line naming the rule and its parameters (for the report)."""
    if rule == 'fixed':
        return f'fixed: tau = {params["tau"]}'
    if rule == 'keep-fraction':
        return (f'keep-fraction: keep the best {params["keep_fraction"]:g} '
                'of the training images (tau = the ceil(f N)-th highest '
                'score)')
    if rule == 'mixture':
        return ('mixture: two-Gaussian fit of the score histogram, tau where '
                'the upper component becomes the more likely one')
    if rule == 'val-proxy':
        return (f'val-proxy: the val score that best separates val proxies '
                f'with class-aware AC vs ground truth >= '
                f'{params["good_quality"]:g} from the rest (Youden J)')
    raise ValueError(f'unknown tau rule {rule!r}; expected one of '
                     f'{TAU_RULES}')
