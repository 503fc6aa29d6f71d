# Copyright (c) mmattn contributors. All rights reserved.
"""Controlled corruption of ground-truth masks: noisy proxy annotations with
a recorded noise list, saliency-like reference masks, and the true quality
of a mask against ground truth.

Label maps are uint8 ``(H, W)`` arrays of VOC indices (0 background,
1..20 foreground). ``objects`` are dicts with ``label`` (VOC index) and
``mask`` (boolean ``(H, W)``, the object's visible pixels).
"""
import math
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmattn.utils.validation import check_choice

from .drawing import ellipse_mask

PROXY_NOISE_TYPES = ('erode', 'dilate', 'wrong_class', 'missed_object',
                     'spurious_blob')

#: Share of images per severity tier. Tiers are allocated exactly (largest
#: remainder), not drawn independently, so even a small dataset has clean
#: and severely corrupted proxies.
DEFAULT_PROXY_NOISE_MIXTURE = OrderedDict(
    clean=0.3, mild=0.3, moderate=0.25, severe=0.15)
PROXY_SEVERITIES = tuple(DEFAULT_PROXY_NOISE_MIXTURE)

#: beta^2 of the F-measure, as in salient object detection.
FMEASURE_BETA2 = 0.3
#: Grey level at which a saliency reference mask is binarised.
SALIENCY_THRESHOLD = 128


def check_noise_mixture(mixture: Mapping[str, float]) -> 'OrderedDict':
    """Validate a severity mixture and return it normalised, in tier order.

    Raises:
        ValueError: On an unknown tier, a negative weight or a zero sum.
    """
    if not isinstance(mixture, Mapping) or not mixture:
        raise ValueError('proxy_noise_mixture must be a non-empty mapping '
                         f'from {PROXY_SEVERITIES} to weights, got '
                         f'{mixture!r}')
    unknown = set(mixture) - set(PROXY_SEVERITIES)
    if unknown:
        raise ValueError(f'proxy_noise_mixture has unknown tiers '
                         f'{sorted(unknown)}; tiers are {PROXY_SEVERITIES}')
    weights = OrderedDict(
        (tier, float(mixture.get(tier, 0.0))) for tier in PROXY_SEVERITIES)
    if any(not math.isfinite(w) or w < 0 for w in weights.values()) \
            or sum(weights.values()) <= 0:
        raise ValueError('proxy_noise_mixture weights must be finite, >= 0 '
                         f'and not all zero, got {dict(mixture)!r}')
    total = sum(weights.values())
    return OrderedDict((t, w / total) for t, w in weights.items())


def allocate_severities(rng: np.random.Generator, num: int,
                        mixture: Mapping[str, float]) -> List[str]:
    """Give ``num`` images severity tiers in the exact mixture proportions
    (largest remainder), in random order.

    Args:
        rng (numpy.random.Generator): Shuffling source.
        num (int): Number of images.
        mixture (Mapping[str, float]): Normalised tier weights.

    Returns:
        list[str]: One tier per image.
    """
    tiers = list(mixture)
    quotas = np.array([mixture[t] * num for t in tiers])
    counts = np.floor(quotas).astype(int)
    # Stable sort: ties go to the earlier (milder) tier.
    order = np.argsort(-(quotas - counts), kind='stable')
    for k in order[:num - counts.sum()]:
        counts[k] += 1
    labels = [t for t, c in zip(tiers, counts) for _ in range(c)]
    return [labels[i] for i in rng.permutation(num)]


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                     (2 * radius + 1, 2 * radius + 1))


def _half_plane_part(rng: np.random.Generator, region: np.ndarray,
                     fraction: float) -> np.ndarray:
    """The part of ``region`` beyond a random straight cut, holding about
    ``fraction`` of its pixels (a contiguous piece, like a missed limb)."""
    ys, xs = np.nonzero(region)
    theta = rng.uniform(0, 2 * np.pi)
    proj = xs * math.cos(theta) + ys * math.sin(theta)
    keep = proj >= np.quantile(proj, 1.0 - fraction)
    part = np.zeros_like(region)
    part[ys[keep], xs[keep]] = True
    return part


def erode_foreground(label_map: np.ndarray, radius: int) -> np.ndarray:
    """Shrink the foreground by ``radius`` pixels towards the background.

    Boundaries between two foreground classes do not move; the image border
    does not erode.
    """
    fg = (label_map > 0).astype(np.uint8)
    kept = cv2.erode(fg, _disk(radius)).astype(bool)
    out = label_map.copy()
    out[(fg > 0) & ~kept] = 0
    return out


def dilate_foreground(label_map: np.ndarray, radius: int) -> np.ndarray:
    """Grow every foreground class by ``radius`` pixels into the background
    (never into another class); where two classes compete the smaller VOC
    index wins."""
    out = label_map.copy()
    for cls in np.unique(label_map[label_map > 0]):
        grown = cv2.dilate((label_map == cls).astype(np.uint8),
                           _disk(radius)).astype(bool)
        out[grown & (out == 0)] = cls
    return out


def _other_class(rng: np.random.Generator, current: int, tags: Sequence[int],
                 class_ids: Sequence[int]) -> Optional[Tuple[int, bool]]:
    """A wrong class: half the time another class of the image (invisible
    to a tag check), otherwise one absent from the image; None when there is
    no other class."""
    in_tags = [c for c in tags if c != current]
    absent = [c for c in class_ids if c not in tags]
    if not in_tags and not absent:
        return None
    use_tags = bool(in_tags) and (not absent or rng.random() < 0.5)
    pool = in_tags if use_tags else absent
    return int(pool[int(rng.integers(len(pool)))]), use_tags


def _wrong_class(rng, proxy, objects, tags, class_ids, fraction_range):
    candidates = [
        j for j, o in enumerate(objects)
        if np.any(o['mask'] & (proxy == o['label']))
    ]
    if not candidates:
        return None
    j = candidates[int(rng.integers(len(candidates)))]
    obj = objects[j]
    target = _other_class(rng, obj['label'], tags, class_ids)
    if target is None:
        return None
    region = obj['mask'] & (proxy == obj['label'])
    fraction = rng.uniform(*fraction_range)
    part = region if fraction >= 1.0 else _half_plane_part(
        rng, region, fraction)
    proxy[part] = target[0]
    return dict(
        type='wrong_class',
        object=j,
        from_class=int(obj['label']),
        to_class=target[0],
        to_class_in_tags=target[1],
        fraction=round(float(part.sum()) / float(obj['mask'].sum()), 4))


def _missed_object(rng, proxy, objects):
    candidates = [
        j for j, o in enumerate(objects)
        if np.any(o['mask'] & (proxy == o['label']))
    ]
    if not candidates:
        return None
    j = candidates[int(rng.integers(len(candidates)))]
    obj = objects[j]
    part = obj['mask'] & (proxy == obj['label'])
    proxy[part] = 0
    return {
        'type': 'missed_object',
        'object': j,
        'class': int(obj['label']),
        'pixels': int(part.sum())
    }


def _spurious_blob(rng, proxy, clean, tags, class_ids, axes_range):
    background = clean == 0
    ys, xs = np.nonzero(background)
    if len(ys) == 0:
        return None
    pick = int(rng.integers(len(ys)))
    side = min(clean.shape)
    axes = [round(float(a), 2) for a in rng.uniform(*axes_range, 2) * side]
    angle = round(float(rng.uniform(0, 180)), 2)
    blob = ellipse_mask(
        (xs[pick], ys[pick]), axes, angle, *clean.shape) & background
    in_tags = bool(tags) and rng.random() < 0.5
    absent = [c for c in class_ids if c not in tags]
    pool = list(tags) if in_tags or not absent else absent
    cls = int(pool[int(rng.integers(len(pool)))])
    proxy[blob] = cls
    return {
        'type': 'spurious_blob',
        'class': cls,
        'class_in_tags': cls in tags,
        'center': [int(xs[pick]), int(ys[pick])],
        'axes': axes,
        'angle': angle,
        'pixels': int(blob.sum())
    }


def _boundary(rng, proxy, radius_range, scale):
    kind = 'erode' if rng.random() < 0.5 else 'dilate'
    # At least 2 px: the ground truth's void band already hides 1 px.
    radius = max(2, int(round(rng.uniform(*radius_range) * scale)))
    changed = (erode_foreground if kind == 'erode' else dilate_foreground)(
        proxy, radius)
    pixels = int(np.count_nonzero(changed != proxy))
    proxy[...] = changed
    return dict(type=kind, radius=radius, pixels=pixels)


def make_proxy_mask(rng: np.random.Generator, clean: np.ndarray,
                    objects: List[dict], class_ids: Sequence[int],
                    severity: str) -> Tuple[np.ndarray, List[dict]]:
    """Corrupt a clean label map by a severity recipe.

    Recipes (radii and blob sizes scale with the image side / 192; radii
    are at least 2 px, since the 1 px void band of the ground truth hides
    smaller shifts):

    - ``clean``: unchanged.
    - ``mild``: erode or dilate the foreground by 2-3.5 px.
    - ``moderate``: either relabel 20-50% of one object to a wrong class or
      add a small spurious blob (semi-axes 3-8% of the side), then erode or
      dilate by 2-4 px.
    - ``severe``: a missed object or a whole object in a wrong class, plus
      1-2 of: another of those two, a large spurious blob (semi-axes 8-18%
      of the side), erosion or dilation by 5-10 px.

    Semantic errors come before the boundary error, and an operation with
    nothing to act on (a wrong class when the dataset has one class) is
    skipped, so the record lists exactly what was applied.

    Args:
        rng (numpy.random.Generator): The image's proxy-noise generator.
        clean (numpy.ndarray): Clean label map ``(H, W)`` uint8, no 255.
        objects (list[dict]): The visible objects (``label``, ``mask``).
        class_ids (Sequence[int]): VOC indices used by the dataset.
        severity (str): One of :data:`PROXY_SEVERITIES`.

    Returns:
        tuple: The proxy label map (uint8 ``(H, W)``) and the noise record,
        a list of dicts with ``type`` in :data:`PROXY_NOISE_TYPES` and the
        operation's parameters.
    """
    check_choice('severity', severity, PROXY_SEVERITIES)
    scale = min(clean.shape) / 192.0
    tags = sorted(int(c) for c in np.unique(clean[clean > 0]))
    proxy = clean.copy()

    def semantic(name: str):
        if name == 'wrong_class_part':
            return _wrong_class(rng, proxy, objects, tags, class_ids,
                                (0.2, 0.5))
        if name == 'wrong_class_whole':
            return _wrong_class(rng, proxy, objects, tags, class_ids,
                                (1.0, 1.0))
        if name == 'missed_object':
            return _missed_object(rng, proxy, objects)
        if name == 'small_blob':
            return _spurious_blob(rng, proxy, clean, tags, class_ids,
                                  (0.03, 0.08))
        return _spurious_blob(rng, proxy, clean, tags, class_ids, (0.08, 0.18))

    record: List[Optional[dict]] = []
    if severity == 'mild':
        record.append(_boundary(rng, proxy, (2.0, 3.5), scale))
    elif severity == 'moderate':
        first = 'wrong_class_part' if rng.random() < 0.5 else 'small_blob'
        record.append(semantic(first))
        record.append(_boundary(rng, proxy, (2.0, 4.0), scale))
    elif severity == 'severe':
        primary = ['missed_object', 'wrong_class_whole']
        first = primary[int(rng.integers(2))]
        extras = [p
                  for p in primary if p != first] + ['large_blob', 'boundary']
        chosen = [first] + [
            extras[k] for k in sorted(
                rng.choice(
                    len(extras), int(rng.integers(1, 3)), replace=False))
        ]
        for name in chosen:
            if name == 'boundary':
                record.append(_boundary(rng, proxy, (5.0, 10.0), scale))
            else:
                record.append(semantic(name))
    return proxy, [r for r in record if r is not None]


def make_saliency_reference(rng: np.random.Generator, clean: np.ndarray,
                            objects: List[dict]) -> Tuple[np.ndarray, dict]:
    """A soft saliency-like foreground map with realistic imperfections.

    Starting from the binary ground-truth foreground: with probability 0.15
    (two or more objects) one whole object is not salient; each remaining
    object loses a straight-cut part (15-40%) with probability 0.2; the
    foreground boundary shifts by -3..3 px (scaled); with probability 0.25
    a false salient blob on the background (semi-axes 5-15% of the side,
    strength 0.55-0.95) appears; then Gaussian blur (sigma 1-3 px, scaled),
    a peak level of 0.8-1.0 and pixel noise (std 0.03).

    Args:
        rng (numpy.random.Generator): The image's saliency generator.
        clean (numpy.ndarray): Clean label map ``(H, W)``.
        objects (list[dict]): The visible objects (``label``, ``mask``).

    Returns:
        tuple: uint8 map ``(H, W)`` in 0..255 (binarise at
        :data:`SALIENCY_THRESHOLD`) and the record of what was applied.
    """
    height, width = clean.shape
    scale = min(height, width) / 192.0
    sal = (clean > 0).astype(np.float32)
    record = dict(missing_objects=[], missing_parts=[])
    hidden = None
    if len(objects) >= 2 and rng.random() < 0.15:
        hidden = int(rng.integers(len(objects)))
        sal[objects[hidden]['mask']] = 0
        record['missing_objects'].append(hidden)
    for j, obj in enumerate(objects):
        if j == hidden or rng.random() >= 0.2:
            continue
        fraction = rng.uniform(0.15, 0.4)
        part = _half_plane_part(rng, obj['mask'], fraction)
        sal[part] = 0
        record['missing_parts'].append(
            dict(
                object=j,
                fraction=round(
                    float(part.sum()) / float(obj['mask'].sum()), 4)))
    shift = int(round(int(rng.integers(-3, 4)) * scale))
    if shift > 0:
        sal = cv2.dilate(sal, _disk(shift))
    elif shift < 0:
        sal = cv2.erode(sal, _disk(-shift))
    record['boundary_shift'] = shift
    record['false_blobs'] = []
    if rng.random() < 0.25:
        ys, xs = np.nonzero(clean == 0)
        if len(ys):
            pick = int(rng.integers(len(ys)))
            axes = [
                round(float(a), 2)
                for a in rng.uniform(0.05, 0.15, 2) * min(height, width)
            ]
            angle = round(float(rng.uniform(0, 180)), 2)
            strength = round(float(rng.uniform(0.55, 0.95)), 3)
            blob = ellipse_mask(
                (xs[pick], ys[pick]), axes, angle, height, width) & (
                    clean == 0)
            sal[blob] = np.maximum(sal[blob], strength)
            record['false_blobs'].append(
                dict(
                    center=[int(xs[pick]), int(ys[pick])],
                    axes=axes,
                    angle=angle,
                    strength=strength))
    sigma = round(float(rng.uniform(1.0, 3.0) * scale), 3)
    sal = cv2.GaussianBlur(sal, (0, 0), sigma)
    peak = round(float(rng.uniform(0.8, 1.0)), 3)
    sal = sal * peak + rng.normal(0, 0.03, sal.shape)
    record.update(blur_sigma=sigma, peak=peak, noise_std=0.03)
    return np.clip(np.round(sal * 255), 0, 255).astype(np.uint8), record


def fmeasure(pred_fg: np.ndarray,
             gt_fg: np.ndarray,
             beta2: float = FMEASURE_BETA2) -> float:
    """F-measure of a binary prediction against a binary ground truth:
    ``(1 + beta2) * P * R / (beta2 * P + R)``.

    Both empty gives 1.0; one empty, or no overlap, gives 0.0.
    """
    pred_fg = np.asarray(pred_fg, bool)
    gt_fg = np.asarray(gt_fg, bool)
    if not pred_fg.any() and not gt_fg.any():
        return 1.0
    inter = float(np.count_nonzero(pred_fg & gt_fg))
    if inter == 0:
        return 0.0
    precision = inter / np.count_nonzero(pred_fg)
    recall = inter / np.count_nonzero(gt_fg)
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def mask_quality(gt: np.ndarray,
                 pred: np.ndarray,
                 ignore_index: int = 255,
                 beta2: float = FMEASURE_BETA2) -> Dict[str, float]:
    """True quality of a label map against ground truth.

    Pixels where ``gt == ignore_index`` are left out everywhere.

    Args:
        gt (numpy.ndarray): Ground-truth label map ``(H, W)``.
        pred (numpy.ndarray): Predicted or proxy label map ``(H, W)``.
        ignore_index (int): Ignored ground-truth value.
        beta2 (float): beta^2 of the foreground F-measure.

    Returns:
        dict: ``miou`` (mean IoU over the classes, background included,
        present in the ground truth or the prediction), ``fg_iou`` (IoU of
        the binary foregrounds, 1.0 when both are empty), ``fg_fmeasure``
        (:func:`fmeasure` of the binary foregrounds) and ``pixel_acc``.
    """
    if gt.shape != pred.shape:
        raise ValueError(f'gt and pred shapes differ: {gt.shape} vs '
                         f'{pred.shape}')
    valid = gt != ignore_index
    g = gt[valid].astype(np.int64)
    p = pred[valid].astype(np.int64)
    ious = []
    for cls in np.union1d(np.unique(g), np.unique(p)):
        inter = np.count_nonzero((g == cls) & (p == cls))
        union = np.count_nonzero((g == cls) | (p == cls))
        ious.append(inter / union)
    g_fg, p_fg = g > 0, p > 0
    union = np.count_nonzero(g_fg | p_fg)
    fg_iou = 1.0 if union == 0 else np.count_nonzero(g_fg & p_fg) / union
    return dict(
        miou=float(np.mean(ious)) if ious else 1.0,
        fg_iou=float(fg_iou),
        fg_fmeasure=float(fmeasure(p_fg, g_fg, beta2)),
        pixel_acc=float(np.mean(g == p)) if g.size else 1.0)
