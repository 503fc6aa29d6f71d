# Copyright (c) mmattn contributors. All rights reserved.
"""Does SAL's class attention single out the tagged objects? For every
tagged class of an image, its map's mean inside the class's ground-truth
region minus outside."""
from typing import Dict, Iterable, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['map_contrast', 'class_attention_contrast']


def map_contrast(maps: Tensor, labels: Tensor,
                 ignore_index: int = 255) -> List[Dict[str, float]]:
    """Inside-minus-outside statistics of per-class maps on one image.

    Args:
        maps (Tensor): ``(K, h, w)`` attention of the K foreground classes,
            values in (0, 1).
        labels (Tensor): ``(h, w)`` ground truth at the maps' size; label
            ``k + 1`` is foreground class ``k`` (0 is background).
        ignore_index (int): Label of pixels left out. Defaults to 255.

    Returns:
        list[dict]: One dict per foreground class present in ``labels``:
        ``cls`` (index into the K maps), ``inside``, ``outside``,
        ``contrast``. Classes filling the whole valid area are skipped (no
        outside).
    """
    valid = labels != ignore_index
    rows = []
    for label in labels[valid].unique().tolist():
        if label == 0 or label > maps.shape[0]:
            continue
        k = int(label) - 1
        inside = valid & (labels == label)
        outside = valid & (labels != label)
        if not outside.any():
            continue
        mean_in = maps[k][inside].mean().item()
        mean_out = maps[k][outside].mean().item()
        rows.append(dict(cls=k, inside=mean_in, outside=mean_out,
                         contrast=mean_in - mean_out))
    return rows


@torch.no_grad()
def class_attention_contrast(model: nn.Module,
                             data_loader: Iterable[dict],
                             max_images: Optional[int] = None) -> dict:
    """Class-attention contrast of a SAL segmentor on images with ground
    truth.

    The maps are the sigmoid of the classification branch's fused class
    maps (:func:`mmattn.visualization.attention.capture_class_attention`),
    upsampled bilinearly to the input and compared with the ground truth
    at its own size.

    Args:
        model (nn.Module): Segmentor whose ``decode_head`` is a SALHead with
            a classification branch.
        data_loader (Iterable[dict]): Batches with ``gt_sem_seg``.
        max_images (int, optional): Stop after this many images.

    Returns:
        dict: ``mean_contrast`` over all (image, class present) pairs,
        ``pairs``, ``per_class`` (class index -> mean contrast) and
        ``rows`` (every pair).
    """
    from mmattn.visualization.attention import capture_class_attention
    was_training = model.training
    model.eval()
    rows, seen = [], 0
    try:
        for batch in data_loader:
            data = model.data_preprocessor(batch, False)
            class_maps, _ = capture_class_attention(model, data['inputs'])
            # Maps up to the (padded) input, then cut to the label's size:
            # small objects survive, unlike labels sampled down to the maps.
            maps = F.interpolate(class_maps, size=data['inputs'].shape[-2:],
                                 mode='bilinear',
                                 align_corners=False).sigmoid()
            for i, sample in enumerate(data['data_samples']):
                gt = sample.gt_sem_seg.data[0]
                h, w = gt.shape
                rows.extend(map_contrast(maps[i, :, :h, :w].cpu(), gt.cpu()))
                seen += 1
                if max_images is not None and seen >= max_images:
                    break
            if max_images is not None and seen >= max_images:
                break
    finally:
        model.train(was_training)
    per_class: Dict[int, List[float]] = {}
    for row in rows:
        per_class.setdefault(row['cls'], []).append(row['contrast'])
    return dict(
        mean_contrast=(sum(r['contrast'] for r in rows) / len(rows))
        if rows else float('nan'),
        pairs=len(rows),
        per_class={k: sum(v) / len(v) for k, v in per_class.items()},
        rows=rows)
