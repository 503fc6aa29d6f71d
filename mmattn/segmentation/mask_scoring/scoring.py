# Copyright (c) mmattn contributors. All rights reserved.
"""Scoring a folder of proxy masks: coarse scores (Eq. 3-5) for every
image, the network's ``P`` and ``SF`` (Eq. 7) when a trained scorer is
given, and the true quality where ground truth exists (Fig. 9).

Two true qualities are computed against ground truth, both Eq. 3 with the
same objectness factor as ``AC``:

- ``AC_gt``: the paper's Fig. 9 truth, class-agnostic (binary foreground of
  the proxy vs binary foreground of the ground truth);
- ``AC_gt_cls``: class-aware (:func:`class_aware_accuracy_score`): a proxy
  pixel overlaps only when its class is the ground truth's. It equals
  ``AC_gt`` for a proxy without class errors.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmattn.segmentation.score_file import SCORE_FIELDS
from .coarse_scores import (PAPER_OBJECTNESS_WEIGHT, accuracy_score,
                            binary_foreground, class_aware_accuracy_score,
                            coarse_scores, fine_score)
from .mask_io import load_scoring_inputs
from .metrics import pearson_correlation, spearman_correlation
from .transforms import build_inference_inputs

__all__ = ['MaskScorer', 'score_proxy_masks', 'summarize_scores', 'TRUTHS']

#: The true qualities ``summarize_scores`` correlates with: result key ->
#: (summary key, plot label).
TRUTHS = {
    'AC_gt': ('correlation', 'AC vs GT, class-agnostic (paper Fig. 9)'),
    'AC_gt_cls': ('correlation_class_aware', 'AC vs GT, class-aware'),
}

_LOADING_TRANSFORMS = ('LoadImageFromFile', 'LoadBinaryMask',
                       'LoadLabelMask', 'LoadAnnotations')


class MaskScorer:
    """A trained :class:`MaskScoringNet` with its test-time preprocessing,
    ready to score in-memory (image, mask) pairs.

    Args:
        config: Config path or :class:`Config` of the scorer (its
            ``test_dataloader.dataset.pipeline`` gives the resizing).
        checkpoint: Checkpoint path; ``None`` keeps the initial weights
            (tests only).
        device: Torch device string.
    """

    def __init__(self, config, checkpoint: Optional[str] = None,
                 device: str = 'cpu') -> None:
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        from mmseg.registry import MODELS
        self.model = MODELS.build(copy.deepcopy(cfg.model))
        if not hasattr(self.model, 'extract_score'):
            raise TypeError(f'config {getattr(cfg, "filename", config)} '
                            'does not build a MaskScoringNet')
        if checkpoint is not None:
            if not osp.isfile(checkpoint):
                raise FileNotFoundError(
                    f'scorer checkpoint not found: {checkpoint}')
            # A scorer that does not fit its checkpoint would score every
            # mask about 0.5 (an untrained network): refuse, naming keys.
            from mmattn.utils.strict_loading import load_checkpoint_strict
            load_checkpoint_strict(
                self.model, checkpoint,
                config=getattr(cfg, 'filename', None) or str(config),
                advice='Score with the scorer config the checkpoint was '
                'trained with.')
        self.model.to(device).eval()
        pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get(
            'pipeline', [])
        self.pipeline = Compose([
            t for t in copy.deepcopy(list(pipeline))
            if t['type'] not in _LOADING_TRANSFORMS
        ]) if pipeline else None

    @property
    def num_classes(self) -> Optional[int]:
        """``None`` for the paper's binary scorer; the number of classes
        ``K`` (background included) of a class-aware one, whose masks are
        label maps."""
        return getattr(self.model.data_preprocessor, 'num_classes', None)

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray],
                 masks: Sequence[np.ndarray]) -> np.ndarray:
        """``P`` for each (BGR image, mask) pair, in ``[0, 1]``.

        A mask is a label map ``(H, W)`` of class indices (0 background,
        ignored pixels set to 0) or a binary mask; a binary scorer uses only
        its foreground, a class-aware one (:attr:`num_classes`) its classes.

        Returns:
            float64 ``(N,)``.
        """
        packed = [
            build_inference_inputs(img, mask, self.pipeline)
            for img, mask in zip(images, masks)
        ]
        data = self.model.data_preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        scores = self.model(data['inputs'], mode='tensor')
        return scores.clamp(0, 1).double().cpu().numpy()


def score_proxy_masks(image_ids: Sequence[str],
                      proxy_dir: str,
                      ref_dir: str,
                      tags: Dict[str, np.ndarray],
                      img_dir: Optional[str] = None,
                      gt_dir: Optional[str] = None,
                      scorer: Optional[MaskScorer] = None,
                      tags_path: str = 'image tags',
                      b: float = PAPER_OBJECTNESS_WEIGHT,
                      num_classes: int = 21,
                      ignore_index: int = 255,
                      ref_threshold: int = 128,
                      batch_size: int = 8,
                      show_progress: bool = True) -> Dict[str, dict]:
    """Score every image's proxy mask.

    Args:
        image_ids: Ids to score.
        proxy_dir, ref_dir, img_dir, gt_dir: Folders of ``<id>.png`` proxy
            label maps, reference masks, ``<id>.jpg`` images and ground
            truth label maps. Without ``img_dir`` the objectness term is 1
            and no scorer can run.
        tags: ``image id -> (num_classes - 1,)`` 0/1 tags.
        scorer: Optional :class:`MaskScorer` for ``P`` and ``SF``.
        tags_path: How errors name the tag source.
        b: Objectness weight (Eq. 3).
        num_classes, ignore_index, ref_threshold: The data's encoding.
        batch_size: Scorer batch size.
        show_progress: Show an mmengine ProgressBar.

    Returns:
        ``image id -> {'AC', 'CD', 'SC', 'P', 'SF', 'AC_gt', 'AC_gt_cls'}``
        with ``P``/``SF`` ``None`` without a scorer; ``AC_gt`` (the paper's
        true quality: AC against the ground truth's binary foreground,
        ignore pixels excluded) and ``AC_gt_cls`` (the class-aware one, see
        :func:`class_aware_accuracy_score`) are ``None`` without
        ``gt_dir``.
    """
    if scorer is not None and img_dir is None:
        raise ValueError('the scoring network needs the images (img_dir)')
    if scorer is not None and scorer.num_classes not in (None, num_classes):
        raise ValueError(
            f'the scorer is class-aware for {scorer.num_classes} classes but '
            f'the proxy masks have {num_classes} (background included); '
            'train or pick a scorer config with num_classes = '
            f'{num_classes}')
    results: Dict[str, dict] = {}
    pending: List[tuple] = []

    def flush():
        if not pending:
            return
        preds = scorer([p[1] for p in pending], [p[2] for p in pending])
        for (image_id, _, _), pred in zip(pending, preds):
            row = results[image_id]
            row['P'] = float(pred)
            row['SF'] = float(fine_score(pred, row['CD']))
        pending.clear()

    bar = ProgressBar(len(image_ids)) if show_progress else None
    for image_id in image_ids:
        data = load_scoring_inputs(image_id, proxy_dir, ref_dir, img_dir,
                                   gt_dir, num_classes, ignore_index,
                                   ref_threshold)
        if image_id not in tags:
            raise KeyError(f'{tags_path}: no image tags for {image_id!r}')
        image_tags = np.asarray(tags[image_id], dtype=np.float64)
        if image_tags.shape != (num_classes - 1, ):
            raise ValueError(
                f'{tags_path}: tags of {image_id!r} have shape '
                f'{image_tags.shape}, expected ({num_classes - 1},)')
        scores = coarse_scores(data['proxy'], data['reference'], image_tags,
                               data['image'], b, ignore_index)
        row = {k: float(v) for k, v in scores.items()}
        row.update(P=None, SF=None, AC_gt=None, AC_gt_cls=None)
        mask = binary_foreground(data['proxy'], ignore_index)
        # A class-aware scorer reads the classes; a binary one binarises.
        labels = np.where(mask, data['proxy'], 0)
        if data['gt'] is not None:
            row['AC_gt'] = float(
                accuracy_score(mask, binary_foreground(data['gt'],
                                                       ignore_index),
                               data['image'], b,
                               valid=data['gt'] != ignore_index))
            row['AC_gt_cls'] = float(
                class_aware_accuracy_score(data['proxy'], data['gt'],
                                           data['image'], b, ignore_index))
        results[image_id] = row
        if scorer is not None:
            pending.append((image_id, data['image'], labels))
            if len(pending) >= batch_size:
                flush()
        if bar:
            bar.update()
    if scorer is not None:
        flush()
    return results


def summarize_scores(results: Dict[str, dict],
                     tau: float,
                     hist_path: Optional[str] = None,
                     scatter_path: Optional[str] = None) -> dict:
    """Counts above ``tau``, score statistics, and (where the rows hold the
    true qualities) the Pearson/Spearman correlation of SC and SF with each
    of them; saves a histogram and a scatter plot when paths are given.

    Returns:
        dict with ``num_images``, ``tau``, ``pass_SC``, ``pass_SF``,
        ``mean`` per score, ``correlation`` (vs ``AC_gt``, the paper's
        Fig. 9 truth: ``{'SC': {'pearson', 'spearman'}, 'SF': ...}``, or
        ``None``), ``correlation_class_aware`` (the same vs ``AC_gt_cls``,
        or ``None``) and ``oracle_SF`` (``{truth key: Pearson}`` of
        ``AC_gt * CD`` with each truth: the ceiling of Eq. 7 when the
        network predicts the binary ground-truth quality exactly, or
        ``None``).
    """
    ids = list(results)
    values = {
        f: np.array([results[i][f] for i in ids if results[i][f] is not None],
                    dtype=np.float64)
        for f in SCORE_FIELDS
    }
    has_fine = len(values['SF']) == len(ids) and len(ids) > 0
    summary = dict(
        num_images=len(ids),
        tau=tau,
        pass_SC=int((values['SC'] >= tau).sum()),
        pass_SF=int((values['SF'] >= tau).sum()) if has_fine else None,
        mean={f: float(v.mean()) for f, v in values.items() if len(v)},
        correlation=None,
        correlation_class_aware=None,
        oracle_SF=None)
    truths = {}
    for key, (summary_key, _) in TRUTHS.items():
        truth = [results[i].get(key) for i in ids]
        if len(ids) < 2 or any(t is None for t in truth):
            continue
        truth = np.array(truth, dtype=np.float64)
        truths[key] = truth
        corr = dict(
            SC=dict(pearson=pearson_correlation(values['SC'], truth),
                    spearman=spearman_correlation(values['SC'], truth)))
        if has_fine:
            corr['SF'] = dict(
                pearson=pearson_correlation(values['SF'], truth),
                spearman=spearman_correlation(values['SF'], truth))
        summary[summary_key] = corr
    if 'AC_gt' in truths:
        oracle = truths['AC_gt'] * values['CD']
        summary['oracle_SF'] = {
            key: pearson_correlation(oracle, truth)
            for key, truth in truths.items()
        }
    if hist_path:
        _plot_histogram(hist_path, values, tau, has_fine)
    if scatter_path and truths:
        _plot_scatter(scatter_path, values, truths, summary, has_fine)
    return summary


def _plot_histogram(path: str, values: dict, tau: float,
                    has_fine: bool) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(0, 1, 21)
    ax.hist(values['SC'], bins=bins, alpha=0.6, label='SC (Eq. 5)')
    if has_fine:
        ax.hist(values['SF'], bins=bins, alpha=0.6, label='SF (Eq. 7)')
    ax.axvline(tau, color='k', linestyle='--', label=f'tau={tau}')
    ax.set_xlabel('score')
    ax.set_ylabel('images')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_scatter(path: str, values: dict, truths: dict, summary: dict,
                  has_fine: bool) -> None:
    """One row per true quality, one column per score (SC, SF)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = ['SC'] + (['SF'] if has_fine else [])
    fig, axes = plt.subplots(len(truths), len(panels),
                             figsize=(4 * len(panels), 4 * len(truths)),
                             squeeze=False)
    for row, (key, truth) in enumerate(truths.items()):
        summary_key, label = TRUTHS[key]
        for ax, name in zip(axes[row], panels):
            r = summary[summary_key][name]['pearson']
            ax.scatter(truth, values[name], s=8, alpha=0.6)
            ax.plot([0, 1], [0, 1], 'k--', linewidth=0.8)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel(f'true quality: {label}', fontsize=8)
            ax.set_ylabel(name)
            ax.set_title(f'{name}: Pearson {r:.3f}')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
