# Copyright (c) mmattn contributors. All rights reserved.
"""Score a folder of proxy masks and write the score file with its summary
and plots: what ``tools/score_masks.py`` and ``tools/sal_pipeline.py`` run.

Files written for ``out='<dir>/<stem>.json'`` (``plot_dir`` defaults to
``<dir>``): the score file, ``<stem>_summary.json``, ``<stem>_hist.png`` and,
with ground truth, ``<stem>_scatter.png`` (see :func:`score_output_paths`).
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmattn.segmentation.score_file import SCORE_FIELDS, dump_mask_scores
from mmattn.utils import load_checkpoint_strict
from .coarse_scores import PAPER_OBJECTNESS_WEIGHT
from .mask_io import read_id_list, read_tags
from .scoring import MaskScorer, score_proxy_masks, summarize_scores

__all__ = [
    'build_strict_scorer', 'score_output_paths', 'score_folder',
    'SCORER_ADVICE'
]

#: Last sentence of the error for a checkpoint of another scorer config.
SCORER_ADVICE = 'Score with the scorer config the checkpoint was trained with'


def build_strict_scorer(config: str,
                        checkpoint: str,
                        device: str = 'cpu',
                        advice: str = SCORER_ADVICE) -> MaskScorer:
    """A :class:`MaskScorer` whose checkpoint loads strictly.

    Args:
        config (str): The scorer config (builds a ``MaskScoringNet``).
        checkpoint (str): Its trained checkpoint.
        device (str): Torch device. Defaults to 'cpu'.
        advice (str): Last sentence of the mismatch error.

    Returns:
        MaskScorer: Ready to score (eval mode, on ``device``).

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        CheckpointMismatchError: The checkpoint belongs to another scorer
            config (a non-strict load would leave the network untrained,
            ``P ~ 0.5`` for every image); the message names the checkpoint,
            the config and the keys.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'scorer checkpoint not found: {checkpoint}')
    scorer = MaskScorer(config, None, 'cpu')
    load_checkpoint_strict(
        scorer.model, checkpoint, config=config, advice=advice)
    scorer.model.to(device)
    return scorer


def score_output_paths(out: str,
                       plot_dir: Optional[str] = None,
                       with_gt: bool = False) -> Dict[str, str]:
    """Every file :func:`score_folder` writes.

    Args:
        out (str): The score file (``.json``).
        plot_dir (str, optional): Folder of the summary and plots. Defaults
            to the score file's folder.
        with_gt (bool): Ground truth given (adds the scatter plot).

    Returns:
        dict: ``out``, ``summary``, ``hist`` and, with ``with_gt``,
        ``scatter`` paths.
    """
    plot_dir = plot_dir or osp.dirname(osp.abspath(out))
    stem = osp.splitext(osp.basename(out))[0]
    paths = dict(
        out=out,
        summary=osp.join(plot_dir, f'{stem}_summary.json'),
        hist=osp.join(plot_dir, f'{stem}_hist.png'))
    if with_gt:
        paths['scatter'] = osp.join(plot_dir, f'{stem}_scatter.png')
    return paths


def _image_ids(proxy_dir: str, ann_file: Optional[str]) -> Sequence[str]:
    if ann_file is not None:
        return list(read_id_list(ann_file))
    if not osp.isdir(proxy_dir):
        raise FileNotFoundError(f'proxy folder not found: {proxy_dir}')
    ids = sorted(
        osp.splitext(f)[0] for f in os.listdir(proxy_dir)
        if f.endswith('.png'))
    if not ids:
        raise ValueError(f'{proxy_dir}: holds no proxy masks')
    return ids


def score_folder(proxy_dir: str,
                 ref_dir: str,
                 out: str,
                 img_dir: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 cls_labels: Optional[str] = None,
                 gt_dir: Optional[str] = None,
                 scorer_config: Optional[str] = None,
                 scorer_checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 batch_size: int = 8,
                 tau: float = 0.55,
                 b: float = PAPER_OBJECTNESS_WEIGHT,
                 num_classes: int = 21,
                 ignore_index: int = 255,
                 ref_threshold: int = 128,
                 plot_dir: Optional[str] = None,
                 overwrite: bool = False,
                 show_progress: bool = True,
                 tool: str = 'tools/score_masks.py') -> Tuple[dict, dict]:
    """Coarse (and, with a scorer, fine) scores of a folder's proxy masks.

    Refuses existing outputs before any work, scores every image
    (:func:`score_proxy_masks`), writes the score file
    (``dump_mask_scores``: validated, atomic, with the sha1 fingerprints of
    the scored masks), the summary JSON and the plots.

    Args:
        proxy_dir (str): Proxy label maps ``<id>.png``.
        ref_dir (str): Reference (saliency) masks ``<id>.png``, 0..255.
        out (str): The score file to write.
        img_dir (str, optional): Images ``<id>.jpg``; needed for the
            objectness term and the scorer.
        ann_file (str, optional): Ids to score, one per line. Defaults to
            every PNG in ``proxy_dir``.
        cls_labels (str, optional): ``cls_labels.npy``. Defaults to the one
            next to ``proxy_dir``.
        gt_dir (str, optional): Ground truth label maps: adds the true
            qualities ``AC_gt``/``AC_gt_cls`` and their correlations.
        scorer_config (str, optional): Scorer config; with
            ``scorer_checkpoint`` adds ``P`` and ``SF``.
        scorer_checkpoint (str, optional): Scorer checkpoint, loaded
            strictly (:func:`build_strict_scorer`).
        device (str): Scorer device. Defaults to 'cpu'.
        batch_size (int): Scorer batch size. Defaults to 8.
        tau (float): Threshold of the summary's pass counts and of the
            histogram's marker.
        b (float): Objectness weight of Eq. 3.
        num_classes (int): Classes including the background.
        ignore_index (int): Ignored label.
        ref_threshold (int): References are foreground where ``>=`` this.
        plot_dir (str, optional): Folder of the summary and plots.
        overwrite (bool): Replace existing outputs.
        show_progress (bool): Show a progress bar.
        tool (str): Recorded as ``meta['tool']`` of the score file.

    Returns:
        tuple[dict, dict]: The summary (also written, with the paths of the
        files under ``score_file``, ``hist``, ``scatter``) and the per-image
        results of :func:`score_proxy_masks` (``AC``, ``CD``, ``SC``, ``P``,
        ``SF``, ``AC_gt``, ``AC_gt_cls``).

    Raises:
        FileExistsError: An output exists and ``overwrite`` is False.
        ValueError: ``scorer_config`` without ``scorer_checkpoint`` (or the
            reverse), or a scorer without ``img_dir``; input errors name
            the file.
    """
    if (scorer_config is None) != (scorer_checkpoint is None):
        raise ValueError('scorer_config and scorer_checkpoint go together')
    if scorer_config is not None and img_dir is None:
        raise ValueError('the scoring network needs the images (img_dir)')
    paths = score_output_paths(out, plot_dir, with_gt=bool(gt_dir))
    # Refuse before any work, not after minutes of scoring.
    existing = [p for p in paths.values() if osp.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(
            f'{", ".join(existing)} already exist(s); refusing to overwrite '
            'the score file or its summary and plots (pass --overwrite, or '
            'choose another --out / --plot-dir)')
    ids = _image_ids(proxy_dir, ann_file)
    tags_path = cls_labels or osp.join(
        osp.dirname(osp.abspath(proxy_dir)), 'cls_labels.npy')
    tags = read_tags(tags_path)
    scorer = None
    if scorer_config is not None:
        scorer = build_strict_scorer(scorer_config, scorer_checkpoint,
                                     device)
    results = score_proxy_masks(
        ids, proxy_dir, ref_dir, tags, img_dir=img_dir, gt_dir=gt_dir,
        scorer=scorer, tags_path=tags_path, b=b, num_classes=num_classes,
        ignore_index=ignore_index, ref_threshold=ref_threshold,
        batch_size=batch_size, show_progress=show_progress)
    scores = {
        i: {k: r[k] for k in SCORE_FIELDS}
        for i, r in results.items()
    }
    meta = dict(
        tool=tool, proxy_dir=proxy_dir, ref_dir=ref_dir, img_dir=img_dir,
        b=b, objectness='edge' if img_dir else 'none', config=scorer_config,
        checkpoint=scorer_checkpoint)
    dump_mask_scores(scores, out, meta=meta, overwrite=overwrite)

    os.makedirs(osp.dirname(paths['summary']), exist_ok=True)
    hist_path, scatter_path = paths['hist'], paths.get('scatter')
    summary = summarize_scores(results, tau, hist_path, scatter_path)
    summary.update(score_file=out, hist=hist_path, scatter=scatter_path)
    with open(paths['summary'], 'w') as f:
        json.dump(summary, f, indent=1)
    return summary, results
