# Copyright (c) mmattn contributors. All rights reserved.
"""Bounding-box voting (HAR-Net Sec. IV-B, Eq. 3).

Eq. 3 of the paper, for a group of overlapping boxes ``R_i`` with class
probabilities ``p_i``::

    R = sum_i p_i R_i / sum_i p_i        p~ = max_i p_i

The paper does not say which boxes form the group. Here, as in the authors'
released post-processing (soft-NMS, then voting against the pre-NMS boxes of
the same class), the group of a kept detection ``d`` is ``d`` itself plus its
*neighbours*: the pre-NMS candidates of the same class whose IoU with ``d``
is at least ``iou_thr``.

Precisely, for kept detection ``k`` (box ``D_k``, score ``s_k``, label
``c_k``) and candidates ``j`` (box ``C_j``, score ``q_j``, label ``l_j``):

1. A candidate whose box and label equal those of *any* kept detection is a
   copy of that detection (in mmdet the kept boxes are a subset of the
   candidates). Copies never vote: the detection itself is the voter, with its
   own score ``s_k`` (which soft-NMS may have decayed). So the detection is
   always counted exactly once, whether or not the caller's candidates
   contain it, and two kept detections never vote for each other (otherwise,
   under ``'max'``, a detection decayed by soft-NMS would take back the score
   of the detection that decayed it).
2. Neighbours ``N_k = {j : l_j == c_k, IoU(D_k, C_j) >= iou_thr, j not a
   copy}``; with ``top_k`` only the ``top_k`` highest-scoring of them.
3. Box: ``(s_k D_k + sum_{j in N_k} q_j C_j) / (s_k + sum_{j in N_k} q_j)``.
4. Score, by ``score_mode``:

   - ``'max'`` (paper, Eq. 3): ``max(s_k, max_{j in N_k} q_j)``.
   - ``'mean'``: ``(s_k + sum_{j in N_k} q_j) / (|N_k| + 1)``, the mean over
     the detection and its voting neighbours.
   - ``'mean_fixed'``: the authors' released code: ``(s_k + sum_{j in N_k}
     q_j) / (top_k + 1)`` with the *configured* ``top_k`` (4 there), even
     when fewer neighbours exist, and ``s_k`` unchanged when ``N_k`` is
     empty. It therefore lowers detections with few neighbours.

With ``exclusive=True`` (the default) each candidate votes for at most one
detection: the detections are visited in decreasing score and each one
consumes all its neighbours (also those beyond ``top_k``), as in the authors'
code, so the groups of Eq. 3 do not overlap. ``exclusive=False`` lets a
candidate vote for every detection it overlaps. After Soft-NMS that is
harmful with ``'max'``: a duplicate that Soft-NMS decayed takes back the
score of the candidates around the object and becomes a second confident
box on it (measured on the demo's detectors: 8.7 vs 21.0 COCO AP for
RetinaNet, 10.5 vs 22.8 for HAR-Net; docs/harnet_inference.md). The
authors' setting is ``dict(iou_thr=0.6, score_mode='mean_fixed', top_k=4,
exclusive=True)``.
"""
from typing import Optional, Tuple

import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

from mmattn.utils.validation import check_bool, check_choice, is_int, is_real

SCORE_MODES = ('max', 'mean', 'mean_fixed')

_BOX_VOTING_DEFAULTS = dict(
    iou_thr=0.6, score_mode='max', top_k=None, exclusive=True)


def _check_iou_thr(iou_thr) -> None:
    if not is_real(iou_thr) or not 0 < iou_thr <= 1:
        raise ValueError(
            f'box voting iou_thr must be a number in (0, 1], got {iou_thr!r}')


def _check_score_mode(score_mode, top_k) -> None:
    check_choice('box voting score_mode', score_mode, SCORE_MODES)
    if score_mode == 'mean_fixed' and top_k is None:
        raise ValueError("box voting score_mode='mean_fixed' divides by "
                         'top_k + 1, so top_k must be set, got top_k=None')


def _check_top_k(top_k) -> None:
    if top_k is None:
        return
    if not is_int(top_k) or top_k <= 0:
        raise ValueError(
            f'box voting top_k must be None or a positive int, got {top_k!r}')


def validate_box_voting_cfg(cfg: Optional[dict]) -> Optional[dict]:
    """Check a box-voting config and fill in the defaults.

    Meant for a head's ``__init__`` (e.g. ``test_cfg.box_voting``), so that a
    bad value fails when the model is built rather than at the first
    prediction.

    Args:
        cfg (dict, optional): Keys among ``iou_thr``, ``score_mode``,
            ``top_k`` and ``exclusive`` (see :func:`box_voting`). ``None``
            means voting is off.

    Returns:
        dict or None: A new dict with every key set, ready to be passed as
        ``**kwargs`` to :func:`box_voting`; ``None`` if ``cfg`` is ``None``.

    Raises:
        TypeError: If ``cfg`` is not a mapping or ``exclusive`` not a bool.
        ValueError: On an unknown key or a bad value (named in the message).
    """
    if cfg is None:
        return None
    if not hasattr(cfg, 'items'):
        raise TypeError(
            f'box_voting config must be a dict or None, got {cfg!r}')
    unknown = sorted(set(cfg) - set(_BOX_VOTING_DEFAULTS))
    if unknown:
        raise ValueError(f'unknown box_voting keys {unknown}; expected some '
                         f'of {sorted(_BOX_VOTING_DEFAULTS)}')
    full = dict(_BOX_VOTING_DEFAULTS)
    full.update(cfg)
    _check_iou_thr(full['iou_thr'])
    _check_top_k(full['top_k'])
    _check_score_mode(full['score_mode'], full['top_k'])
    check_bool('box voting exclusive', full['exclusive'])
    return full


def _copy_mask(det_bboxes: Tensor, det_labels: Tensor, cand_bboxes: Tensor,
               cand_labels: Tensor) -> Tensor:
    """(M,) bool: candidate j is an exact copy of some kept detection."""
    same_box = (det_bboxes[:, None, :] == cand_bboxes[None, :, :]).all(-1)
    same_cls = det_labels[:, None] == cand_labels[None, :]
    return (same_box & same_cls).any(0)


def _keep_top_k(neighbours: Tensor, cand_scores: Tensor, top_k: int) -> Tensor:
    """Restrict each row of the (K, M) neighbour mask to its top_k scores."""
    k = min(top_k, neighbours.size(1))
    ranked = cand_scores[None, :].expand_as(neighbours).masked_fill(
        ~neighbours, float('-inf'))
    top_idx = ranked.topk(k, dim=1).indices
    limited = torch.zeros_like(neighbours)
    # gather keeps the mask False where a row had fewer than k neighbours
    limited.scatter_(1, top_idx, neighbours.gather(1, top_idx))
    return limited


def _exclusive_neighbours(neighbours: Tensor, det_scores: Tensor) -> Tensor:
    """Give each candidate only to the best-scoring detection claiming it."""
    exclusive = torch.zeros_like(neighbours)
    free = torch.ones(
        neighbours.size(1), dtype=torch.bool, device=neighbours.device)
    for k in det_scores.argsort(descending=True, stable=True).tolist():
        exclusive[k] = neighbours[k] & free
        free &= ~neighbours[k]
    return exclusive


def box_voting(det_bboxes: Tensor,
               det_scores: Tensor,
               det_labels: Tensor,
               cand_bboxes: Tensor,
               cand_scores: Tensor,
               cand_labels: Tensor,
               iou_thr: float = 0.6,
               score_mode: str = 'max',
               top_k: Optional[int] = None,
               exclusive: bool = True) -> Tuple[Tensor, Tensor]:
    """Refine kept detections by score-weighted voting of their neighbours.

    See the module docstring for the exact rule (HAR-Net Eq. 3 and the
    authors' variant). Boxes and candidates must be in the same coordinates.

    Args:
        det_bboxes (Tensor): Kept detections (after NMS), ``(K, 4)`` as
            ``(x1, y1, x2, y2)``.
        det_scores (Tensor): Their scores, ``(K,)``.
        det_labels (Tensor): Their class indices, ``(K,)``.
        cand_bboxes (Tensor): Candidates that vote (the boxes before NMS),
            ``(M, 4)``.
        cand_scores (Tensor): Candidate scores, ``(M,)``.
        cand_labels (Tensor): Candidate class indices, ``(M,)``.
        iou_thr (float): Minimum IoU with the detection for a candidate to
            vote, in ``(0, 1]``. Defaults to 0.6 (the authors' value).
        score_mode (str): ``'max'`` (paper Eq. 3), ``'mean'`` or
            ``'mean_fixed'`` (authors' code). Defaults to ``'max'``.
        top_k (int, optional): Use only the ``top_k`` best-scoring
            neighbours of each detection (the detection itself comes on top).
            ``None`` means all. The authors use 4.
        exclusive (bool): Let each candidate vote for one detection only
            (authors' code). Defaults to True; False lets Soft-NMS
            duplicates regain high scores (see the module docstring).

    Returns:
        tuple[Tensor, Tensor]: Voted boxes ``(K, 4)`` and scores ``(K,)``,
        in the order of the input detections.

    Raises:
        ValueError: If ``iou_thr``, ``score_mode`` or ``top_k`` is invalid.
    """
    _check_iou_thr(iou_thr)
    _check_top_k(top_k)
    _check_score_mode(score_mode, top_k)
    num_dets = det_bboxes.size(0)
    if num_dets == 0 or cand_bboxes.size(0) == 0:
        return det_bboxes.clone().reshape(num_dets, 4), det_scores.clone()

    det_scores = det_scores.to(cand_scores.dtype)
    ious = bbox_overlaps(det_bboxes, cand_bboxes)  # (K, M)
    neighbours = (det_labels[:, None] == cand_labels[None, :]) \
        & (ious >= iou_thr)
    neighbours &= ~_copy_mask(det_bboxes, det_labels, cand_bboxes,
                              cand_labels)[None, :]
    if exclusive:
        neighbours = _exclusive_neighbours(neighbours, det_scores)
    if top_k is not None:
        neighbours = _keep_top_k(neighbours, cand_scores, top_k)

    weights = cand_scores[None, :] * neighbours  # (K, M), zero off-group
    score_sum = det_scores + weights.sum(1)
    box_sum = det_scores[:, None] * det_bboxes + weights @ cand_bboxes
    # an all-zero-score group has no weighted mean: keep the detection's box
    safe = score_sum > 0
    voted_bboxes = torch.where(safe[:, None],
                               box_sum / score_sum.clamp(min=1e-12)[:, None],
                               det_bboxes.to(box_sum.dtype))

    num_neighbours = neighbours.sum(1)
    if score_mode == 'max':
        neighbour_max = cand_scores[None, :].expand_as(weights).masked_fill(
            ~neighbours, float('-inf')).max(1).values
        voted_scores = torch.maximum(det_scores, neighbour_max)
    elif score_mode == 'mean':
        voted_scores = score_sum / (num_neighbours + 1)
    else:  # 'mean_fixed'
        voted_scores = torch.where(num_neighbours > 0, score_sum / (top_k + 1),
                                   det_scores)
    return voted_bboxes, voted_scores


def box_voting_instances(detections: InstanceData, candidates: InstanceData,
                         **voting_cfg) -> InstanceData:
    """:func:`box_voting` on mmdet ``InstanceData`` results.

    Args:
        detections (InstanceData): Kept detections with ``bboxes`` (K, 4),
            ``scores`` (K,) and ``labels`` (K,).
        candidates (InstanceData): Pre-NMS candidates with the same fields,
            (M, ...), in the same coordinates as ``detections``.
        **voting_cfg: Keyword arguments of :func:`box_voting`.

    Returns:
        InstanceData: A copy of ``detections`` with voted ``bboxes`` and
        ``scores``; other fields are kept.
    """
    voted = detections.clone()
    bboxes, scores = box_voting(detections.bboxes, detections.scores,
                                detections.labels, candidates.bboxes,
                                candidates.scores, candidates.labels,
                                **voting_cfg)
    voted.bboxes = bboxes
    voted.scores = scores
    return voted
