# Copyright (c) mmattn contributors. All rights reserved.
"""Checks of one segmentation sample (image and label mask), shared by
``WeakVOCDataset`` (every sample, as it is loaded) and
``tools/check_dataset.py`` (a whole folder, before training).

Without them a bad mask surfaces iterations into training as a torch error
that names no file: a mask of another size than its image
(``stack expects each tensor to be equal size``), a label beyond the class
list (``index 50 is out of bounds``), a colour (RGB) PNG where a label PNG
belongs.
"""
from typing import List, Optional, Sequence

import numpy as np


class SegSampleError(ValueError):
    """A sample's label mask does not fit its image or the class list.

    The message names the mask file, its image and every problem found.
    """


def label_mask_problems(seg_map: np.ndarray,
                        img_shape: Optional[Sequence[int]],
                        num_classes: int,
                        ignore_index: int = 255) -> List[str]:
    """What is wrong with a loaded label mask.

    Args:
        seg_map (numpy.ndarray): The mask as loaded, ``(H, W)`` for a label
            mask; ``(H, W, C)`` is a colour image.
        img_shape (Sequence[int], optional): ``(H, W, ...)`` of the image
            as loaded; None skips the size check.
        num_classes (int): Labels ``0 .. num_classes - 1`` are classes.
        ignore_index (int): The one other label allowed (ignored by the
            losses). Default: 255.

    Returns:
        list[str]: One sentence per problem (empty: the mask is fine).
    """
    if seg_map.ndim != 2:
        channels = seg_map.shape[2] if seg_map.ndim == 3 else seg_map.ndim
        return [
            f'has {channels} channels (shape {tuple(seg_map.shape)}): it is '
            'a colour image, not a label mask. A label mask is a '
            'single-channel PNG (palette "P" or grayscale "L") whose pixel '
            'values are the class indices; a VOC-style colour-coded mask '
            'must be converted to indices first'
        ]
    problems = []
    if img_shape is not None and tuple(seg_map.shape) != tuple(
            img_shape[:2]):
        problems.append(
            f'is {seg_map.shape[0]}x{seg_map.shape[1]} (HxW) but its image '
            f'is {img_shape[0]}x{img_shape[1]}; a mask must have the size of '
            'its image')
    bad = (seg_map >= num_classes) & (seg_map != ignore_index)
    if seg_map.dtype.kind == 'i':
        bad |= seg_map < 0
    if bad.any():
        labels = np.unique(seg_map[bad])
        shown = ', '.join(str(v) for v in labels[:10].tolist())
        more = f' and {labels.size - 10} more' if labels.size > 10 else ''
        problems.append(
            f'holds label(s) {shown}{more} in {int(bad.sum())} pixel(s): '
            f'with {num_classes} classes a label must lie in 0..'
            f'{num_classes - 1}, or be {ignore_index} (ignored)')
    return problems


def check_label_mask(seg_map: np.ndarray,
                     img_shape: Optional[Sequence[int]],
                     num_classes: int,
                     ignore_index: int = 255,
                     seg_map_path: str = '<mask>',
                     img_path: Optional[str] = None) -> None:
    """Raise :class:`SegSampleError` when :func:`label_mask_problems` finds
    anything.

    Args:
        seg_map_path (str): Named first in the message.
        img_path (str, optional): The mask's image, named too.
        Others: As :func:`label_mask_problems`.

    Raises:
        SegSampleError: ``<mask path>: label mask <problem>; ...``.
    """
    problems = label_mask_problems(seg_map, img_shape, num_classes,
                                   ignore_index)
    if problems:
        image = f' (image {img_path})' if img_path else ''
        raise SegSampleError(f'{seg_map_path}: label mask ' +
                             '; and '.join(problems) + image)
