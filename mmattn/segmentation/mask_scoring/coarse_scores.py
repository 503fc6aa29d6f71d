# Copyright (c) mmattn contributors. All rights reserved.
"""Coarse mask scores of the SAL paper (Sec. III-B.1, Eq. 3-5) and the fine
score (Eq. 7).

One backend: every function computes with numpy in float64. Masks are
``(..., H, W)``: any leading dimensions are a batch and the result has
exactly those leading dimensions (a numpy scalar for a single mask).

Torch tensors are accepted at the boundary (:func:`_numpy_backend`): they
are copied to numpy on entry, and the result comes back as a tensor on the
first input tensor's device, float32 (bool for :func:`binary_foreground`),
i.e. the float64 numpy value rounded to float32. A torch image defaults to
the ``(..., C, H, W)`` layout (see :func:`edge_strength`). Mixing numpy
arrays and tensors in one call raises ``TypeError``; Python numbers go with
either. Results carry no autograd graph.

Definitions (``|X|`` counts pixels, restricted to ``valid`` when given):

- Eq. 3 F-measure with the paper's own precision and recall::

      prec(H, B) = |H n B| / |H|        rec(H, B) = |H n B| / |H u B|
      F = 2 prec rec / (prec + rec) = 2 |H n B| / (|H| + |H u B|)

  (the closed form follows by substitution). This is *not* the usual Dice
  ``2|HnB| / (|H| + |B|)``: the paper's "prec" is the coverage of the
  reference and its "rec" is the IoU, so under-segmentation costs more than
  the same amount of over-segmentation.
- Eq. 3 ``AC = F * F_obj(B) ** b`` with ``b = 0.1`` and ``F_obj`` the
  edge-alignment objectness of :func:`edge_objectness` (BING, the paper's
  choice, is not available).
- Eq. 4 ``CD = (# pixels of B whose label is one of the image tags) / |B|``.
- Eq. 5 ``SC = AC * CD``; Eq. 7 ``SF = P * CD``.
- Not in the paper, for evaluation against multi-class ground truth:
  :func:`class_aware_fmeasure` / :func:`class_aware_accuracy_score`, the
  same Eq. 3 F-measure in which a proxy foreground pixel is in the
  intersection only when its class equals the ground-truth class there.

Empty masks (all values exact, never a division by zero):

- ``B`` and ``H`` both empty: ``F = 1`` (``both_empty``): the proxy agrees
  with the reference that there is no object.
- exactly one of ``B``, ``H`` empty: ``F = 0`` (no overlap; the paper's
  ``rec`` is 0, and ``2 * p * 0 / (p + 0)`` is taken as its limit 0 when
  ``p`` is also 0).
- ``B`` empty: ``CD = 1`` (no foreground pixel carries a label outside the
  tags); the emptiness is scored by ``AC``, not twice.
- ``B`` empty or full (no boundary inside the image): objectness ``1``
  (neutral: there is no boundary to judge).
"""
import functools
import inspect
from typing import Optional, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

#: The weight ``b`` of the objectness term in Eq. 3 (Sec. IV-A).
PAPER_OBJECTNESS_WEIGHT = 0.1

__all__ = [
    'PAPER_OBJECTNESS_WEIGHT', 'binary_foreground', 'check_label_map',
    'paper_fmeasure', 'edge_strength', 'edge_objectness', 'accuracy_score',
    'class_distribution', 'coarse_score', 'fine_score', 'coarse_scores',
    'class_aware_fmeasure', 'class_aware_accuracy_score'
]


#: The colour axis of a torch image when ``channel_axis`` is ``None``
#: (``(..., C, H, W)``); numpy images default to -1 (``(..., H, W, C)``).
TORCH_CHANNEL_AXIS = -3


def _to_torch(result, device: torch.device):
    """A numpy result (or a dict of them) as tensors on ``device``: float32,
    or bool for a bool result."""
    if result is None:
        return None
    if isinstance(result, dict):
        return {k: _to_torch(v, device) for k, v in result.items()}
    result = np.asarray(result)
    dtype = torch.bool if result.dtype == bool else torch.float32
    return torch.from_numpy(result).to(device=device, dtype=dtype)


def _numpy_backend(func):
    """Let a numpy-only public function take torch tensors.

    When any argument is a tensor: raise if another is a numpy array, copy
    every tensor to numpy, default ``channel_axis`` (where the function has
    one) to :data:`TORCH_CHANNEL_AXIS`, run ``func`` and return its result
    through :func:`_to_torch` on the first tensor's device. Without tensors
    ``func`` runs untouched.
    """
    signature = inspect.signature(func)
    has_layout = 'channel_axis' in signature.parameters

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        values = (*args, *kwargs.values())
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if not tensors:
            return func(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        if any(isinstance(v, np.ndarray) for v in values):
            raise TypeError('mix of numpy arrays and torch tensors; pass all '
                            'inputs as one kind')
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if isinstance(value, torch.Tensor):
                bound.arguments[name] = value.detach().cpu().numpy()
        if has_layout and bound.arguments['channel_axis'] is None:
            bound.arguments['channel_axis'] = TORCH_CHANNEL_AXIS
        return _to_torch(func(*bound.args, **bound.kwargs),
                         tensors[0].device)

    return wrapper


def _as_bool(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    return mask != 0


def _check_shapes(name_a: str, a: np.ndarray, name_b: str,
                  b: np.ndarray) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f'{name_a} has shape {tuple(a.shape)} but {name_b} '
                         f'has shape {tuple(b.shape)}; they must match')
    if a.ndim < 2:
        raise ValueError(f'{name_a} must be (..., H, W), got shape '
                         f'{tuple(a.shape)}')


def _count(mask: np.ndarray) -> np.ndarray:
    """Pixel count over the last two dims, float64."""
    return mask.reshape(mask.shape[:-2] + (-1, )).sum(-1, dtype=np.float64)


@_numpy_backend
def binary_foreground(label_map: Array, ignore_index: int = 255) -> Array:
    """The binary object mask ``B`` of a label map.

    Foreground is every class except background (0); ``ignore_index``
    pixels are not foreground.

    Args:
        label_map: ``(..., H, W)`` integer labels.
        ignore_index: The "unlabelled" value. Defaults to 255.

    Returns:
        Bool ``(..., H, W)``.
    """
    return (label_map != 0) & (label_map != ignore_index)


@_numpy_backend
def check_label_map(label_map: Array,
                    num_classes: int,
                    ignore_index: int = 255,
                    name: str = 'label map') -> None:
    """Raise if ``label_map`` holds values outside ``0..num_classes-1`` and
    ``ignore_index``.

    Args:
        label_map: Integer labels of any shape.
        num_classes: Number of classes including background (21 for VOC).
        ignore_index: The one extra allowed value.
        name: How the error message names the map (e.g. its file path).

    Raises:
        ValueError: naming ``name`` and the offending values.
    """
    values = np.unique(label_map).tolist()
    bad = [v for v in values if v != ignore_index and not 0 <= v < num_classes]
    if bad:
        raise ValueError(
            f'{name}: label values {bad[:10]} are outside the class set '
            f'0..{num_classes - 1} (and ignore {ignore_index})')


@_numpy_backend
def paper_fmeasure(mask: Array,
                   reference: Array,
                   valid: Optional[Array] = None,
                   both_empty: float = 1.0) -> Array:
    """The first factor of Eq. 3: ``2 prec rec / (prec + rec)`` with the
    paper's ``prec = |HnB|/|H|`` and ``rec = |HnB|/|HuB|``.

    Args:
        mask: Binary proxy mask ``B``, ``(..., H, W)`` (bool, {0,1} or
            float > 0.5).
        reference: Binary reference mask ``H`` (saliency reference or ground
            truth), same shape.
        valid: Optional bool ``(..., H, W)``; only these pixels are counted
            (e.g. ground truth's non-ignore pixels).
        both_empty: The value when ``B`` and ``H`` are both empty.

    Returns:
        F-measure in ``[0, 1]`` with shape ``(...)``.
    """
    _check_shapes('mask', mask, 'reference', reference)
    mask = _as_bool(mask)
    reference = _as_bool(reference)
    if valid is not None:
        _check_shapes('valid', valid, 'mask', mask)
        valid = _as_bool(valid)
        mask = mask & valid
        reference = reference & valid
    return _fmeasure_from_counts(
        _count(mask & reference), _count(reference), _count(mask | reference),
        both_empty)


def _fmeasure_from_counts(inter: np.ndarray, ref_size: np.ndarray,
                          union: np.ndarray,
                          both_empty: float) -> np.ndarray:
    """``2 |HnB| / (|H| + |HuB|)``, ``both_empty`` where both are 0."""
    denom = ref_size + union
    safe = np.where(denom > 0, denom, 1.0)
    return np.where(denom > 0, 2 * inter / safe, both_empty)[()]


def _max_filter3(x: np.ndarray) -> np.ndarray:
    """3x3 max filter over the last two dims, edges replicated."""
    pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(x, pad, mode='edge')
    h, w = x.shape[-2:]
    out = x.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, padded[..., dy:dy + h, dx:dx + w], out=out)
    return out


@_numpy_backend
def edge_strength(image: Array, channel_axis: Optional[int] = None) -> Array:
    """Per-pixel edge strength in ``[0, 1)``, scale free.

    ``g`` is the gradient magnitude (central differences, edges replicated)
    of the channel mean; the strength is ``g / (g + mean(g))`` per image,
    so a pixel with the image's average gradient scores 0.5 and a flat
    image scores 0 everywhere. A 3x3 max filter then gives one pixel of
    tolerance between a mask boundary and the image edge.

    Args:
        image: numpy ``(..., H, W, C)`` (OpenMMLab's HWC layout) or torch
            ``(..., C, H, W)``; or ``(..., H, W)`` grey with
            ``channel_axis=None`` given explicitly as ``False``.
        channel_axis: Axis holding the colour channels. ``None`` picks the
            layout's default (-1 for numpy, -3 for torch); ``False`` means
            the image has no channel axis.

    Returns:
        ``(..., H, W)`` float64.
    """
    if channel_axis is None:
        channel_axis = -1
    img = np.asarray(image, dtype=np.float64)
    gray = img if channel_axis is False else img.mean(axis=channel_axis)
    if gray.ndim < 2:
        raise ValueError(f'image must be at least 2-D, got {img.shape}')
    padded = np.pad(gray, [(0, 0)] * (gray.ndim - 2) + [(1, 1), (1, 1)],
                    mode='edge')
    grad_x = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    grad_y = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    magnitude = (grad_x**2 + grad_y**2)**0.5
    mean = magnitude.reshape(magnitude.shape[:-2] +
                             (-1, )).mean(-1)[..., None, None]
    # The tiny constant only matters for a perfectly flat image (0 / 0).
    strength = magnitude / (magnitude + mean + 1e-12)
    return _max_filter3(strength)


def _inner_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it. The image frame
    counts as inside, so a mask touching the border has no boundary there.
    """
    padded = np.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)],
                    mode='edge')
    interior = (padded[..., :-2, 1:-1] & padded[..., 2:, 1:-1]
                & padded[..., 1:-1, :-2] & padded[..., 1:-1, 2:])
    return mask & ~interior


@_numpy_backend
def edge_objectness(mask: Array,
                    image: Array,
                    channel_axis: Optional[int] = None,
                    min_objectness: float = 0.01) -> Array:
    """Objectness ``F_obj(B)`` of Eq. 3 as boundary-edge alignment.

    BING [40] scores a window by how object-like its normed gradients are:
    objects have closed boundaries on strong image edges. We keep that
    idea at the pixel level: the mean :func:`edge_strength` over the inner
    boundary of ``B``. A mask whose contour follows image edges scores near
    1; one that cuts through flat regions scores near 0. Clipped to
    ``[min_objectness, 1]`` so ``F_obj ** b`` stays positive. A mask with
    no boundary pixel (empty, or the full image) scores 1.

    Args:
        mask: Binary ``(..., H, W)``.
        image: Image matching ``mask``'s batch and size, layout as in
            :func:`edge_strength`.
        channel_axis: See :func:`edge_strength`.
        min_objectness: Lower clip, in ``(0, 1]``.

    Returns:
        Objectness in ``[min_objectness, 1]``, shape ``(...)``.
    """
    if not 0 < min_objectness <= 1:
        raise ValueError(
            f'min_objectness must be in (0, 1], got {min_objectness}')
    mask = _as_bool(mask)
    edges = edge_strength(image, channel_axis)
    _check_shapes('mask', mask, 'image (without channels)', edges)
    boundary = _inner_boundary(mask)
    n_boundary = _count(boundary)
    on_edges = (edges * boundary).reshape(edges.shape[:-2] + (-1, )).sum(-1)
    safe = np.where(n_boundary > 0, n_boundary, 1.0)
    score = np.where(n_boundary > 0, on_edges / safe, 1.0)
    return np.clip(score, min_objectness, 1.0)[()]


@_numpy_backend
def accuracy_score(mask: Array,
                   reference: Array,
                   image: Optional[Array] = None,
                   b: float = PAPER_OBJECTNESS_WEIGHT,
                   valid: Optional[Array] = None,
                   channel_axis: Optional[int] = None,
                   min_objectness: float = 0.01,
                   both_empty: float = 1.0) -> Array:
    """Object boundary accuracy ``AC`` (Eq. 3).

    ``AC = paper_fmeasure(B, H) * edge_objectness(B, image) ** b``. Without
    an image the objectness factor is 1 (pure F-measure).

    Args:
        mask: Binary proxy mask ``B``, ``(..., H, W)``.
        reference: Binary reference ``H`` (or ground truth), same shape.
        image: Optional image for the objectness term (see
            :func:`edge_strength` for the layout).
        b: Objectness weight; the paper's 0.1.
        valid: Optional bool mask of the pixels to count.
        channel_axis: See :func:`edge_strength`.
        min_objectness: See :func:`edge_objectness`.
        both_empty: F-measure when ``B`` and ``H`` are both empty.

    Returns:
        ``AC`` in ``[0, 1]``, shape ``(...)``.
    """
    if b < 0:
        raise ValueError(f'objectness weight b must be >= 0, got {b}')
    fmeasure = paper_fmeasure(mask, reference, valid, both_empty)
    if image is None or b == 0:
        return fmeasure
    objectness = edge_objectness(mask, image, channel_axis, min_objectness)
    return fmeasure * objectness**b


@_numpy_backend
def class_distribution(label_map: Array,
                       tags: Array,
                       ignore_index: int = 255,
                       empty_value: float = 1.0) -> Array:
    """Class distribution confidence ``CD`` (Eq. 4).

    The fraction of the proxy's foreground pixels (``B``) whose label is one
    of the image's tags ``Y``.

    Args:
        label_map: ``(..., H, W)`` integer proxy labels, 0 = background.
        tags: ``(..., C - 1)`` 0/1 image tags over the foreground classes
            (index ``k`` is class ``k + 1``: the ``cls_labels.npy``
            convention), with the same leading dims as ``label_map``.
        ignore_index: Labels that are neither background nor foreground.
        empty_value: ``CD`` when ``B`` is empty.

    Returns:
        ``CD`` in ``[0, 1]``, shape ``(...)``.
    """
    lead = tuple(label_map.shape[:-2])
    if label_map.ndim < 2 or tuple(tags.shape[:-1]) != lead:
        raise ValueError(
            f'tags must be (..., num_fg_classes) with the label map\'s '
            f'leading dims {lead}; got label map {tuple(label_map.shape)} '
            f'and tags {tuple(tags.shape)}')
    num_fg = tags.shape[-1]
    foreground = binary_foreground(label_map, ignore_index)
    n_fg = _count(foreground)
    # Lookup table per image: entry c says whether class c is tagged;
    # background (0) is never "in Y" but is also never counted.
    tags = np.asarray(tags, dtype=np.float64)
    allowed = np.concatenate([np.zeros_like(tags[..., :1]), tags],
                             axis=-1) > 0.5
    labels = np.where(foreground, label_map, 0).astype(np.int64)
    if labels.size and labels.max() > num_fg:
        raise ValueError(f'label {labels.max()} has no tag entry '
                         f'(tags cover classes 1..{num_fg})')
    flat_allowed = allowed.reshape(-1, num_fg + 1)
    flat_labels = labels.reshape(flat_allowed.shape[0], -1)
    in_tags = np.take_along_axis(flat_allowed, flat_labels, axis=1)
    hits = (in_tags & foreground.reshape(flat_labels.shape)).sum(
        -1, dtype=np.float64).reshape(lead)
    safe = np.where(n_fg > 0, n_fg, 1.0)
    return np.where(n_fg > 0, hits / safe, empty_value)[()]


def _check_unit(name: str, x: np.ndarray) -> None:
    lo, hi = (float(x.min()), float(x.max())) if np.size(x) else (0.0, 0.0)
    if lo < 0 or hi > 1:
        raise ValueError(f'{name} must lie in [0, 1], got range [{lo}, {hi}]')


@_numpy_backend
def coarse_score(ac: Array, cd: Array) -> Array:
    """``SC = AC * CD`` (Eq. 5)."""
    ac = np.asarray(ac, dtype=np.float64)
    cd = np.asarray(cd, dtype=np.float64)
    _check_unit('AC', ac)
    _check_unit('CD', cd)
    return ac * cd


@_numpy_backend
def fine_score(prediction: Array, cd: Array) -> Array:
    """``SF = P * CD`` (Eq. 7); ``P`` is the scoring network's output.

    ``P`` is clipped to ``[0, 1]`` first: the network's ReLU output may
    exceed 1 slightly, and a score file holds values in ``[0, 1]``.
    """
    prediction = np.clip(np.asarray(prediction, dtype=np.float64), 0, 1)
    cd = np.asarray(cd, dtype=np.float64)
    _check_unit('CD', cd)
    return prediction * cd


@_numpy_backend
def coarse_scores(label_map: Array,
                  reference: Array,
                  tags: Array,
                  image: Optional[Array] = None,
                  b: float = PAPER_OBJECTNESS_WEIGHT,
                  ignore_index: int = 255,
                  channel_axis: Optional[int] = None,
                  min_objectness: float = 0.01) -> dict:
    """``AC``, ``CD`` and ``SC`` of proxy label maps in one call.

    Args:
        label_map: ``(..., H, W)`` proxy labels; ``B`` is its foreground.
        reference: ``(..., H, W)`` binary reference mask ``H``.
        tags: ``(..., C - 1)`` 0/1 image tags (see
            :func:`class_distribution`).
        image: Optional image for the objectness term.
        b, ignore_index, channel_axis, min_objectness: See
            :func:`accuracy_score` and :func:`class_distribution`.

    Returns:
        dict with ``'AC'``, ``'CD'``, ``'SC'``, each of shape ``(...)``.
    """
    mask = binary_foreground(label_map, ignore_index)
    ac = accuracy_score(mask, reference, image, b,
                        channel_axis=channel_axis,
                        min_objectness=min_objectness)
    cd = class_distribution(label_map, tags, ignore_index)
    return dict(AC=ac, CD=cd, SC=coarse_score(ac, cd))


@_numpy_backend
def class_aware_fmeasure(label_map: Array,
                         gt_label_map: Array,
                         ignore_index: int = 255,
                         both_empty: float = 1.0) -> Array:
    """Eq. 3's F-measure of a proxy label map against a ground-truth label
    map, counting a pixel as overlap only where the classes agree.

    With ``B`` the proxy's foreground, ``H`` the ground truth's foreground
    and ``V`` its non-ignore pixels (all counts restricted to ``V``)::

        TP = |{p in B n H : label_map[p] == gt_label_map[p]}|
        prec = TP / |H|      rec = TP / |H u B|
        F = 2 prec rec / (prec + rec) = 2 TP / (|H| + |H u B|)

    A foreground pixel of the wrong class stays in ``H u B`` but leaves the
    overlap, so it costs as much as a missed pixel plus a spurious one.
    This is not in the paper: it measures how good a proxy is *for training
    a multi-class segmenter*, which the class-agnostic Eq. 3 (the paper's
    Fig. 9 truth, :func:`accuracy_score` against the ground truth's
    foreground) cannot see. When every proxy foreground pixel inside ``H``
    has the ground-truth class it equals
    ``paper_fmeasure(B, H, valid=V)`` exactly. Empty cases as in
    :func:`paper_fmeasure`.

    Args:
        label_map: ``(..., H, W)`` integer proxy labels, 0 = background.
        gt_label_map: Ground-truth labels, same shape; ``ignore_index``
            pixels are not counted.
        ignore_index: The "unlabelled" value of both maps.
        both_empty: The value when neither map has foreground (on valid
            pixels).

    Returns:
        F-measure in ``[0, 1]`` with shape ``(...)``.
    """
    _check_shapes('label map', label_map, 'ground truth', gt_label_map)
    valid = gt_label_map != ignore_index
    mask = binary_foreground(label_map, ignore_index) & valid
    reference = binary_foreground(gt_label_map, ignore_index)
    same_class = mask & reference & (label_map == gt_label_map)
    return _fmeasure_from_counts(
        _count(same_class), _count(reference), _count(mask | reference),
        both_empty)


@_numpy_backend
def class_aware_accuracy_score(label_map: Array,
                               gt_label_map: Array,
                               image: Optional[Array] = None,
                               b: float = PAPER_OBJECTNESS_WEIGHT,
                               ignore_index: int = 255,
                               channel_axis: Optional[int] = None,
                               min_objectness: float = 0.01,
                               both_empty: float = 1.0) -> Array:
    """Class-aware ``AC`` against ground truth:
    :func:`class_aware_fmeasure` times the same objectness factor
    ``F_obj(B) ** b`` as :func:`accuracy_score`.

    Keeping the objectness factor makes this equal to the paper's
    ground-truth score (``accuracy_score(B, H_gt, image, b,
    valid=gt != ignore)``, Fig. 9) whenever the proxy has no class errors,
    so the two truths differ only by the class errors.

    Args:
        label_map: ``(..., H, W)`` proxy labels.
        gt_label_map: ``(..., H, W)`` ground-truth labels.
        image: Optional image for the objectness term (layout as in
            :func:`edge_strength`); without it the factor is 1.
        b, channel_axis, min_objectness: See :func:`accuracy_score`.
        ignore_index, both_empty: See :func:`class_aware_fmeasure`.

    Returns:
        Class-aware ``AC`` in ``[0, 1]``, shape ``(...)``.
    """
    if b < 0:
        raise ValueError(f'objectness weight b must be >= 0, got {b}')
    fmeasure = class_aware_fmeasure(label_map, gt_label_map, ignore_index,
                                    both_empty)
    if image is None or b == 0:
        return fmeasure
    mask = binary_foreground(label_map, ignore_index)
    objectness = edge_objectness(mask, image, channel_axis, min_objectness)
    return fmeasure * objectness**b
