# Copyright (c) mmattn contributors. All rights reserved.
"""How well predicted mask scores track the target scores: Pearson and
Spearman correlation (the paper's Fig. 9) and mean absolute error."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS
from scipy.stats import rankdata

__all__ = ['MaskScoreMetric', 'pearson_correlation', 'spearman_correlation']


def _pair(x, y):
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f'need equally many predictions and targets, got '
                         f'{x.size} and {y.size}')
    return x, y


def pearson_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r. ``nan`` when fewer than 2 values or either is constant
    (the correlation is undefined there, and 0 would hide it)."""
    x, y = _pair(x, y)
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if denom == 0:
        return math.nan
    return float((dx * dy).sum() / denom)


def spearman_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the ranks, ties getting their average
    rank. ``nan`` as in :func:`pearson_correlation`."""
    x, y = _pair(x, y)
    if x.size < 2:
        return math.nan
    return pearson_correlation(rankdata(x), rankdata(y))


@METRICS.register_module()
class MaskScoreMetric(BaseMetric):
    """Pearson, Spearman and MAE between ``pred_score`` and ``gt_score``.

    Reads each data sample's ``pred_score`` (set by
    :meth:`MaskScoringNet.predict`) and ``gt_score`` (the target AC).

    Args:
        collect_device: See :class:`mmengine.evaluator.BaseMetric`.
        prefix: Metric name prefix; defaults to ``'mask_score'``.

    Returns (``compute_metrics``):
        dict with ``pearson``, ``spearman`` and ``mae``.
    """

    default_prefix: Optional[str] = 'mask_score'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else \
                (lambda k, s=sample: getattr(s, k, None))
            pred, target = get('pred_score'), get('gt_score')
            if pred is None or target is None:
                raise KeyError('MaskScoreMetric needs pred_score and '
                               'gt_score in every data sample')
            self.results.append((float(pred), float(target)))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        pred = np.array([r[0] for r in results], dtype=np.float64)
        target = np.array([r[1] for r in results], dtype=np.float64)
        metrics = dict(
            pearson=pearson_correlation(pred, target),
            spearman=spearman_correlation(pred, target),
            mae=float(np.abs(pred - target).mean()) if pred.size else
            math.nan)
        MMLogger.get_current_instance().info(
            f'mask scores on {pred.size} samples: ' +
            ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
        return metrics
