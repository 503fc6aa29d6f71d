# Copyright (c) mmattn contributors. All rights reserved.
"""Argument checks, output-folder safety and file writing shared by the
dataset generators."""
import json
import numbers
import os
import os.path as osp
import shutil
from typing import Iterable, Iterator, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import track_iter_progress

#: Smallest image side the generators accept: below it the smallest objects
#: and the noise radii lose their meaning.
MIN_IMG_SIDE = 32
MAX_IMG_SIDE = 4096


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_common_args(num_images, seed, img_size,
                      val_fraction) -> Tuple[int, int, Tuple[int, int]]:
    """Validate the arguments every generator shares.

    Args:
        num_images (int): Images in total, at least 2 (one per split).
        seed (int): Non-negative random seed.
        img_size (Sequence[int]): ``(height, width)``, each in
            ``[MIN_IMG_SIDE, MAX_IMG_SIDE]``.
        val_fraction (float): Share of images in the val split, in the open
            interval ``(0, 1)``.

    Returns:
        tuple: ``(num_train, num_val, (height, width))``; both splits hold
        at least one image.

    Raises:
        ValueError: On any invalid value; the message names it.
        TypeError: When a value has the wrong type.
    """
    if not is_int(num_images) or num_images < 2:
        raise ValueError('num_images must be an int >= 2 (one train and one '
                         f'val image at least), got {num_images!r}')
    if not is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    if (isinstance(img_size,
                   (str, bytes)) or not isinstance(img_size, Sequence)
            or len(img_size) != 2 or not all(is_int(s) for s in img_size)):
        raise TypeError('img_size must be a pair of ints (height, width), '
                        f'got {img_size!r}')
    if not all(MIN_IMG_SIDE <= s <= MAX_IMG_SIDE for s in img_size):
        raise ValueError(f'img_size sides must lie in [{MIN_IMG_SIDE}, '
                         f'{MAX_IMG_SIDE}], got {tuple(img_size)!r}')
    if (isinstance(val_fraction, bool)
            or not isinstance(val_fraction, numbers.Real)
            or not 0.0 < float(val_fraction) < 1.0):
        raise ValueError('val_fraction must be a number in the open interval '
                         f'(0, 1), got {val_fraction!r}')
    num_val = int(round(num_images * float(val_fraction)))
    num_val = min(max(num_val, 1), num_images - 1)
    return num_images - num_val, num_val, (int(img_size[0]), int(img_size[1]))


def prepare_output_dir(out_dir: str, managed: Iterable[str],
                       overwrite: bool) -> str:
    """Make sure ``out_dir`` can receive a new dataset.

    A missing or empty folder is used as is. A non-empty one is refused
    unless ``overwrite``; then only the paths this generator writes
    (``managed``, relative to ``out_dir``) are removed, so that nothing of a
    previous, larger dataset is left behind, while unrelated files of the
    user's stay untouched.

    Args:
        out_dir (str): Output folder.
        managed (Iterable[str]): Files and folders the generator owns.
        overwrite (bool): Replace an existing dataset.

    Returns:
        str: The absolute output folder, created.

    Raises:
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is
            False.
        NotADirectoryError: ``out_dir`` exists and is not a folder.
    """
    out_dir = osp.abspath(os.fspath(out_dir))
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(
            f'out_dir {out_dir!r} exists and is not a directory')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise FileExistsError(
                f'out_dir {out_dir!r} is not empty; refusing to write into '
                'it. Choose another folder, or pass overwrite=True '
                '(--overwrite) to replace a dataset generated there before.')
        for rel in managed:
            path = osp.join(out_dir, rel)
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path)
            elif osp.lexists(path):
                os.remove(path)
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


def image_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """An independent generator for one purpose (``stream``) of one image.

    Streams keep the parts of an image independent: changing how proxy
    noise is drawn does not change the image itself, and image ``i`` is the
    same whatever ``num_images`` is.
    """
    return np.random.default_rng([seed, stream, index])


def write_jpeg(path: str, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as JPEG (quality 95)."""
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f'could not write image {path!r}')


def write_json(path: str, obj, layout: str = 'indent') -> None:
    """Write JSON with a stable layout (no timestamps, fixed key order).

    Args:
        path (str): Output file.
        obj: JSON-serialisable object.
        layout (str): ``'indent'`` (readable), ``'compact'`` (no
            whitespace, for COCO files with polygons) or ``'records'`` (a
            dict written one key and its value per line, for per-image
            records).
    """
    if layout not in ('indent', 'compact', 'records'):
        raise ValueError(f'unknown JSON layout {layout!r}')
    with open(path, 'w', encoding='utf-8') as f:
        if layout == 'compact':
            json.dump(obj, f, separators=(',', ':'))
        elif layout == 'records':
            f.write('{\n')
            f.write(',\n'.join(f'{json.dumps(key)}: {json.dumps(value)}'
                               for key, value in obj.items()))
            f.write('\n}')
        else:
            json.dump(obj, f, indent=1)
        f.write('\n')


def progress(items: Sequence, show: bool) -> Iterator:
    """Iterate over ``items``, with mmengine's progress bar if ``show``."""
    if show:
        return iter(track_iter_progress(list(items)))
    return iter(items)
