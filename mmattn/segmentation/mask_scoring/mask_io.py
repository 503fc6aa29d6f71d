# Copyright (c) mmattn contributors. All rights reserved.
"""Reading the inputs of mask scoring (images, proxy label maps, reference
masks, ground truth, image tags) with errors that name the file.

``read_tags`` is :func:`mmattn.segmentation.tag_file.read_tags`, re-exported
here beside the other readers."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np
from PIL import Image

from ..tag_file import read_tags  # noqa: F401 (re-exported)
from .coarse_scores import check_label_map

__all__ = [
    'read_image', 'read_label_map', 'read_reference', 'read_tags',
    'check_same_size', 'find_file', 'read_id_list'
]

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def find_file(folder: str, image_id: str,
              suffixes: Sequence[str] = ('.png', ),
              what: str = 'file') -> str:
    """``folder/<image_id><suffix>`` for the first suffix that exists.

    Raises:
        FileNotFoundError: naming every path tried.
    """
    tried = [osp.join(folder, image_id + s) for s in suffixes]
    for path in tried:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'missing {what} for image {image_id!r}: none of '
                            f'{tried} exists')


def read_image(path: str) -> np.ndarray:
    """BGR uint8 ``(H, W, 3)`` (mmcv's convention)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    img = mmcv.imread(path, flag='color')
    if img is None:
        raise ValueError(f'{path}: cannot decode the image')
    return img


def _read_single_channel(path: str, what: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    try:
        with Image.open(path) as im:
            # Palette PNGs (VOC) decode to their indices in mode 'P'.
            if im.mode not in ('P', 'L', 'I', 'I;16', '1'):
                raise ValueError(
                    f'{path}: a {what} must be a single-channel or palette '
                    f'image, got mode {im.mode!r}')
            arr = np.array(im)
    except (OSError, SyntaxError) as e:
        raise ValueError(f'{path}: cannot decode the {what} ({e})') from e
    return arr


def read_label_map(path: str,
                   num_classes: int = 21,
                   ignore_index: int = 255) -> np.ndarray:
    """A proxy or ground-truth label map, checked against the class set.

    Returns:
        int64 ``(H, W)``.

    Raises:
        ValueError: labels outside ``0..num_classes-1`` and
            ``ignore_index``, naming ``path``.
    """
    labels = _read_single_channel(path, 'label map').astype(np.int64)
    check_label_map(labels, num_classes, ignore_index, name=path)
    return labels


def read_reference(path: str, threshold: int = 128) -> np.ndarray:
    """A saliency-like reference map (uint8 0..255), binarised
    ``>= threshold``.

    Returns:
        bool ``(H, W)``.
    """
    ref = _read_single_channel(path, 'reference mask')
    return ref >= threshold


def read_id_list(path: str) -> Tuple[str, ...]:
    """One image id per line (VOC ``ImageSets`` style); blank lines
    skipped."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'id list not found: {path}')
    with open(path) as f:
        ids = tuple(line.split()[0] for line in f if line.strip())
    if not ids:
        raise ValueError(f'{path}: lists no image ids')
    return ids


def check_same_size(reference_path: str, reference_shape: Tuple[int, int],
                    other_path: str, other_shape: Tuple[int, int]) -> None:
    """Raise naming ``other_path`` if its size differs from the
    reference's (usually the image)."""
    if tuple(other_shape[:2]) != tuple(reference_shape[:2]):
        raise ValueError(
            f'{other_path}: size {tuple(other_shape[:2])} differs from '
            f'{reference_path} size {tuple(reference_shape[:2])}')


def load_scoring_inputs(image_id: str,
                        proxy_dir: str,
                        ref_dir: str,
                        img_dir: Optional[str],
                        gt_dir: Optional[str] = None,
                        num_classes: int = 21,
                        ignore_index: int = 255,
                        ref_threshold: int = 128) -> dict:
    """Everything coarse scoring needs for one image, size-checked.

    Returns:
        dict with ``proxy`` (int64 labels), ``reference`` (bool), ``image``
        (BGR uint8 or ``None``), ``gt`` (int64 labels or ``None``) and the
        paths used.
    """
    proxy_path = find_file(proxy_dir, image_id, ('.png', ), 'proxy mask')
    ref_path = find_file(ref_dir, image_id, ('.png', ), 'reference mask')
    proxy = read_label_map(proxy_path, num_classes, ignore_index)
    reference = read_reference(ref_path, ref_threshold)
    out = dict(proxy=proxy, reference=reference, image=None, gt=None,
               proxy_path=proxy_path, ref_path=ref_path, img_path=None,
               gt_path=None)
    anchor_path, anchor_shape = proxy_path, proxy.shape
    if img_dir is not None:
        img_path = find_file(img_dir, image_id, IMAGE_SUFFIXES, 'image')
        image = read_image(img_path)
        anchor_path, anchor_shape = img_path, image.shape
        check_same_size(img_path, image.shape, proxy_path, proxy.shape)
        out.update(image=image, img_path=img_path)
    check_same_size(anchor_path, anchor_shape, ref_path, reference.shape)
    if gt_dir is not None:
        gt_path = find_file(gt_dir, image_id, ('.png', ), 'ground truth')
        gt = read_label_map(gt_path, num_classes, ignore_index)
        check_same_size(anchor_path, anchor_shape, gt_path, gt.shape)
        out.update(gt=gt, gt_path=gt_path)
    return out
