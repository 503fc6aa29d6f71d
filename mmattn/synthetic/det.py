# Copyright (c) mmattn contributors. All rights reserved.
"""A generated COCO-format detection dataset of shapes on cluttered
backgrounds.

Layout written by :func:`make_det_dataset`::

    out_dir/
      annotations/instances_train.json
      annotations/instances_val.json
      train/000000.jpg ...
      val/000320.jpg ...
      meta.json
      mmattn_manifest.json              every file above (what overwrite
                                        may delete)

Load it with mmdet's ``CocoDataset``::

    dict(type='CocoDataset', data_root=out_dir,
         metainfo=dict(classes=SYNTHETIC_DET_CLASSES),
         ann_file='annotations/instances_train.json',
         data_prefix=dict(img='train/'), pipeline=[...])
"""
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from mmattn.utils.validation import check_choice

from .common import (LEGACY_LAYOUTS, check_common_args, image_rng, is_int,
                     prepare_output_dir, progress, write_jpeg, write_json)
from .drawing import (SHAPE_NAMES, TEXTURE_PATTERNS, cluttered_background,
                      finish_image, linear_gradient, mask_bbox, paint,
                      place_shape, rasterize, unit_shape)

#: Class names of the detection dataset, in label order (category ids are
#: ``index + 1``).
SYNTHETIC_DET_CLASSES = SHAPE_NAMES

DET_FORMAT = 'mmattn.synthetic.det'
DET_FORMAT_VERSION = 1

#: Difficulty presets of :func:`make_det_dataset`, easiest last.
DET_DIFFICULTIES = ('standard', 'easy')

# What a preset sets. 'standard' (the default, the data of the tests and
# benchmarks): object extent (longer side before rotation) log-uniform in
# 7-42% of the image side, so that small objects are as common as large;
# textured fills; cluttered backgrounds with distractor strokes; and
# occlusion: a placement normally leaves every earlier object at least
# placement_visible visible, with heavy_occlusion_prob it may hide more.
# 'easy' keeps the classes (the outline is still all that tells them apart)
# and removes what makes short from-scratch training fail: objects are
# large, few, plain, hardly overlap, on a smooth background without strokes.
# A from-scratch R-18 RetinaNet learns it in a few CPU minutes (the demo).
_PRESETS = dict(
    standard=dict(
        extent_range=(0.07, 0.42),
        placement_visible=0.65,
        heavy_occlusion_prob=0.15,
        pattern_probs=(0.55, 0.15, 0.15, 0.15),
        background='cluttered',
        max_objects=6),
    easy=dict(
        extent_range=(0.3, 0.55),
        placement_visible=0.9,
        heavy_occlusion_prob=0.0,
        pattern_probs=(1.0, 0.0, 0.0, 0.0),
        background='smooth',
        max_objects=3))
_MIN_EXTENT_PX = 8.0
_ASPECT_RANGE = (0.6, 1 / 0.6)
# Objects left under _MIN_VISIBLE visible are not annotated (their slivers
# stay in the image as clutter).
_MIN_VISIBLE = 0.4
_PLACEMENT_TRIES = 12

_DET_STREAM = 0


def det_dataset_files(num_images: int, num_train: int) -> List[str]:
    """Every file :func:`make_det_dataset` writes (what its manifest
    lists), relative to the output folder.

    Args:
        num_images (int): Images in both splits.
        num_train (int): Images in the train split (the first ones).

    Returns:
        list[str]: ``/``-separated relative paths.
    """
    images = [
        f'{"train" if index < num_train else "val"}/{index:06d}.jpg'
        for index in range(num_images)
    ]
    return images + [
        'annotations/instances_train.json', 'annotations/instances_val.json',
        'meta.json'
    ]


def _legacy_det_files(meta: dict) -> List[str]:
    num_images, num_train = meta['num_images'], meta['num_train']
    if not (is_int(num_images) and is_int(num_train)
            and 0 <= num_train <= num_images):
        raise ValueError(f'num_images {num_images!r}, num_train '
                         f'{num_train!r}')
    return det_dataset_files(num_images, num_train)


LEGACY_LAYOUTS[DET_FORMAT] = _legacy_det_files


def _min_area(height: int, width: int) -> int:
    return max(12, int(round(3e-4 * height * width)))


def _check_difficulty(difficulty) -> dict:
    return _PRESETS[check_choice('difficulty', difficulty, DET_DIFFICULTIES)]


def _smooth_background(rng: np.random.Generator, height: int,
                       width: int) -> np.ndarray:
    """The easy preset's background: a two-colour gradient with faint
    low-frequency blotches, no distractor strokes.

    Returns:
        numpy.ndarray: float32 image, shape ``(height, width, 3)``.
    """
    img = linear_gradient(rng, height, width)
    low = rng.normal(0, 8.0, (4, 4, 3)).astype(np.float32)
    img += cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.float32)


def _place_objects(rng: np.random.Generator, height: int, width: int,
                   max_objects: int,
                   preset: dict) -> Tuple[np.ndarray, List[dict]]:
    """Choose shapes and positions; later objects lie on top.

    Args:
        rng (numpy.random.Generator): The image's generator.
        height (int): Image height.
        width (int): Image width.
        max_objects (int): Most objects placed.
        preset (dict): The difficulty preset (extent range and occlusion).

    Returns:
        tuple: ``owner`` (int32 ``(H, W)``, index of the top object per
        pixel, -1 for background) and the placed objects (``label``,
        in-image ``mask`` and its ``area``), bottom to top.
    """
    side = min(height, width)
    extent_range = preset['extent_range']
    min_extent = max(_MIN_EXTENT_PX, extent_range[0] * side)
    max_extent = max(1.5 * min_extent, extent_range[1] * side)
    min_area = _min_area(height, width)
    owner = np.full((height, width), -1, np.int32)
    placed: List[dict] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(SHAPE_NAMES)))
        for _ in range(_PLACEMENT_TRIES):
            extent = math.exp(
                rng.uniform(math.log(min_extent), math.log(max_extent)))
            aspect = math.exp(rng.uniform(*np.log(_ASPECT_RANGE)))
            half = (0.5 * extent * math.sqrt(aspect),
                    0.5 * extent / math.sqrt(aspect))
            # Centres may come close enough to the border to truncate the
            # shape a little; the box is the visible extent either way.
            reach = 0.5 * max(half)
            cx = rng.uniform(
                min(reach, width / 2), max(width - reach, width / 2))
            cy = rng.uniform(
                min(reach, height / 2), max(height - reach, height / 2))
            poly = place_shape(
                unit_shape(SHAPE_NAMES[label], rng), (cx, cy), half,
                rng.uniform(0, 360))
            mask = rasterize(poly, height, width)
            area = int(mask.sum())
            if area < 2 * min_area:
                continue
            trial = owner.copy()
            trial[mask] = len(placed)
            keep = preset['placement_visible']
            if rng.random() >= preset['heavy_occlusion_prob'] and any(
                    np.count_nonzero(trial == j) < keep * obj['area']
                    for j, obj in enumerate(placed)):
                continue
            owner = trial
            placed.append(dict(label=label, mask=mask, area=area))
            break
    return owner, placed


def _rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE: run lengths over the column-major pixels,
    starting with a (possibly empty) run of zeros."""
    flat = mask.reshape(-1, order='F').astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=counts)


def _segmentation(visible: np.ndarray):
    """COCO segmentation of a visible mask: polygons
    (``[[x0, y0, x1, y1, ...], ...]``, one per part of an occluded object),
    or an uncompressed RLE when polygons cannot represent the mask (a hole
    left by an object on top, or a part too thin to have an area)."""
    contours, hierarchy = cv2.findContours(
        visible.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    has_hole = (hierarchy[0][:, 3] >= 0).any()
    if has_hole or any(len(c) < 3 for c in contours):
        return _rle(visible)
    return [c.reshape(-1).astype(float).tolist() for c in contours]


def draw_det_image(rng: np.random.Generator,
                   height: int,
                   width: int,
                   max_objects: Optional[int] = None,
                   difficulty: str = 'standard'
                   ) -> Tuple[np.ndarray, List[dict]]:
    """Draw one detection image and its annotations.

    Args:
        rng (numpy.random.Generator): The image's own generator.
        height (int): Image height.
        width (int): Image width.
        max_objects (int, optional): Most objects placed (before occlusion
            drops). Default: the preset's (6 standard, 3 easy).
        difficulty (str): One of :data:`DET_DIFFICULTIES`.
            Default: 'standard'.

    Returns:
        tuple: uint8 RGB image ``(H, W, 3)`` and a non-empty list of
        annotations with ``label`` (0-based), ``bbox`` (``[x, y, w, h]`` of
        the visible pixels), ``area`` (visible pixels), ``segmentation``
        (COCO polygons of the visible part, or an uncompressed RLE when it
        has holes) and ``visible_fraction``.
    """
    preset = _check_difficulty(difficulty)
    if max_objects is None:
        max_objects = preset['max_objects']
    background = (cluttered_background if preset['background'] == 'cluttered'
                  else _smooth_background)
    scale = min(height, width) / 192.0
    min_area = _min_area(height, width)
    while True:  # redraw the rare image whose objects all end up hidden
        canvas = background(rng, height, width)
        owner, placed = _place_objects(rng, height, width, max_objects,
                                       preset)
        for obj in placed:
            pattern = TEXTURE_PATTERNS[int(
                rng.choice(len(TEXTURE_PATTERNS),
                           p=preset['pattern_probs']))]
            paint(canvas, obj['mask'], rng, pattern, scale)
        anns = []
        for j, obj in enumerate(placed):
            visible = owner == j
            area = int(visible.sum())
            if area < min_area or area < _MIN_VISIBLE * obj['area']:
                continue
            x0, y0, x1, y1 = mask_bbox(visible)
            anns.append(
                dict(
                    label=obj['label'],
                    bbox=[float(v) for v in (x0, y0, x1 - x0, y1 - y0)],
                    area=float(area),
                    segmentation=_segmentation(visible),
                    visible_fraction=round(area / obj['area'], 4)))
        if anns:
            return finish_image(rng, canvas), anns


def _coco_json(images: List[dict], annotations: List[dict], seed: int,
               split: str) -> dict:
    return dict(
        info=dict(
            description=f'mmattn synthetic shapes ({split})',
            version=str(DET_FORMAT_VERSION),
            seed=seed),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(SYNTHETIC_DET_CLASSES)
        ])


def make_det_dataset(out_dir: str,
                     num_images: int = 400,
                     seed: int = 0,
                     img_size: Sequence[int] = (256, 256),
                     val_fraction: float = 0.2,
                     max_objects: Optional[int] = None,
                     difficulty: str = 'standard',
                     overwrite: bool = False,
                     show_progress: bool = True) -> Dict:
    """Generate the COCO-format shape detection dataset.

    The same arguments always give byte-identical annotation files and
    identical images. Image ``i`` depends only on ``seed`` and ``i``; the
    first ``num_train`` images form the train split, the rest val.

    Args:
        out_dir (str): Output folder; must be missing or empty unless
            ``overwrite``.
        num_images (int): Images in both splits together, >= 2.
        seed (int): Non-negative random seed.
        img_size (Sequence[int]): ``(height, width)``.
        val_fraction (float): Share of val images, in ``(0, 1)``; each
            split gets at least one image.
        max_objects (int, optional): Most objects drawn per image, in
            ``[1, 20]``. Default: the preset's (6 standard, 3 easy).
        difficulty (str): ``'standard'`` (default: small objects, clutter,
            occlusion, textures) or ``'easy'`` (few large plain objects on
            a smooth background; the demo's data). Recorded in
            ``meta.json``.
        overwrite (bool): Replace a dataset generated in ``out_dir`` before:
            delete the files its ``mmattn_manifest.json`` lists and nothing
            else (see :func:`~mmattn.synthetic.common.prepare_output_dir`).
        show_progress (bool): Show mmengine's progress bar.

    Returns:
        dict: Summary with ``out_dir``, ``classes``, ``num_train``,
        ``num_val``, ``num_annotations`` (per split), ``ann_files`` and
        ``img_dirs`` (per split, relative to ``out_dir``), ``seed``,
        ``img_size``, ``val_fraction``, ``max_objects`` and ``difficulty``.
    """
    num_train, num_val, size = check_common_args(num_images, seed, img_size,
                                                 val_fraction)
    height, width = size
    preset = _check_difficulty(difficulty)
    if max_objects is None:
        max_objects = preset['max_objects']
    if not is_int(max_objects) or not 1 <= max_objects <= 20:
        raise ValueError(
            f'max_objects must be an int in [1, 20], got {max_objects!r}')
    out_dir = prepare_output_dir(out_dir,
                                 det_dataset_files(num_images, num_train),
                                 overwrite, DET_FORMAT)
    for sub in ('annotations', 'train', 'val'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)

    print_log(
        f'Generating {num_images} detection images ({num_train} train, '
        f'{num_val} val) of {height}x{width} with seed {seed} '
        f'({difficulty}) in {out_dir}',
        logger='current')
    images = dict(train=[], val=[])
    annotations = dict(train=[], val=[])
    for index in progress(range(num_images), show_progress):
        split = 'train' if index < num_train else 'val'
        img, anns = draw_det_image(
            image_rng(seed, _DET_STREAM, index), height, width, max_objects,
            difficulty)
        file_name = f'{index:06d}.jpg'
        write_jpeg(osp.join(out_dir, split, file_name), img)
        image_id = index + 1
        images[split].append(
            dict(id=image_id, file_name=file_name, height=height, width=width))
        for ann in anns:
            annotations[split].append(
                dict(
                    id=len(annotations[split]) + 1,
                    image_id=image_id,
                    category_id=ann['label'] + 1,
                    bbox=ann['bbox'],
                    area=ann['area'],
                    iscrowd=0,
                    segmentation=ann['segmentation']))

    ann_files = {}
    for split in ('train', 'val'):
        ann_files[split] = f'annotations/instances_{split}.json'
        write_json(
            osp.join(out_dir, ann_files[split]),
            _coco_json(images[split], annotations[split], seed, split),
            layout='compact')
    summary = dict(
        format=DET_FORMAT,
        version=DET_FORMAT_VERSION,
        out_dir=out_dir,
        classes=list(SYNTHETIC_DET_CLASSES),
        num_images=num_images,
        num_train=num_train,
        num_val=num_val,
        num_annotations={
            s: len(a)
            for s, a in annotations.items()
        },
        ann_files=ann_files,
        img_dirs=dict(train='train/', val='val/'),
        seed=seed,
        img_size=[height, width],
        val_fraction=float(val_fraction),
        max_objects=max_objects,
        difficulty=difficulty)
    meta = {k: v for k, v in summary.items() if k != 'out_dir'}
    write_json(osp.join(out_dir, 'meta.json'), meta)
    print_log(
        f'Wrote {summary["num_annotations"]["train"]} train and '
        f'{summary["num_annotations"]["val"]} val boxes to {out_dir}',
        logger='current')
    return summary
