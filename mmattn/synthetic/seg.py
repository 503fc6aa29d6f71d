# Copyright (c) mmattn contributors. All rights reserved.
"""A generated PASCAL-VOC-style segmentation dataset with image tags, noisy
proxy masks of known quality and saliency-like reference masks.

Layout written by :func:`make_seg_dataset` (loaded unchanged by mmseg's
``PascalVOCDataset`` with ``data_prefix=dict(img_path='JPEGImages',
seg_map_path='SegmentationClass')`` and
``ann_file='ImageSets/Segmentation/train.txt'``)::

    out_dir/
      JPEGImages/<id>.jpg
      SegmentationClass/<id>.png        ground truth, VOC palette PNG
      SegmentationClassProxy/<id>.png   noisy proxy masks, same encoding
      SaliencyRef/<id>.png              soft saliency-like map, uint8
      ImageSets/Segmentation/train.txt, val.txt
      cls_labels.npy                    id -> float32 (20,) image tags
      proxy_quality.json                id -> noise record + true quality
      saliency_ref.json                 id -> saliency record + quality
      meta.json
      mmattn_manifest.json              every file above (what overwrite
                                        may delete)
"""
import math
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from PIL import Image

from .common import (LEGACY_LAYOUTS, check_common_args, image_rng, is_int,
                     prepare_output_dir, progress, write_jpeg, write_json)
from .drawing import (SHAPE_NAMES, TEXTURE_PATTERNS, cluttered_background,
                      finish_image, paint, place_shape, rasterize, unit_shape)
from .noise import (DEFAULT_PROXY_NOISE_MIXTURE, FMEASURE_BETA2,
                    SALIENCY_THRESHOLD, allocate_severities,
                    check_noise_mixture, make_proxy_mask,
                    make_saliency_reference, mask_quality)

#: The 21 PASCAL VOC class names (index 0 is background), as mmseg names
#: them.
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
NUM_VOC_FOREGROUND = 20
IGNORE_INDEX = 255

SEG_FORMAT = 'mmattn.synthetic.seg'
SEG_FORMAT_VERSION = 1

# Objects are larger than in the detection set: segmentation needs area.
_EXTENT_RANGE = (0.18, 0.55)
_ASPECT_RANGE = (0.6, 1 / 0.6)
_MAX_OBJECTS = 4
_MAX_CLASSES_PER_IMAGE = 3
_PLACEMENT_VISIBLE = 0.5
_PLACEMENT_TRIES = 12

_SCENE_STREAM, _PROXY_STREAM, _SALIENCY_STREAM, _SPLIT_STREAM = 1, 2, 3, 4
_FOLDERS = dict(
    img=('JPEGImages', '.jpg'),
    gt=('SegmentationClass', '.png'),
    proxy=('SegmentationClassProxy', '.png'),
    saliency=('SaliencyRef', '.png'))
_SETS_DIR = 'ImageSets/Segmentation'
_FIXED_FILES = (f'{_SETS_DIR}/train.txt', f'{_SETS_DIR}/val.txt',
                'cls_labels.npy', 'proxy_quality.json', 'saliency_ref.json',
                'meta.json')


def seg_image_ids(num_images: int) -> List[str]:
    """The ids of a generated segmentation dataset: ``syn_000000``, ..."""
    return [f'syn_{index:06d}' for index in range(num_images)]


def seg_dataset_files(num_images: int) -> List[str]:
    """Every file :func:`make_seg_dataset` writes for ``num_images`` images
    (what its manifest lists), relative to the output folder.

    Returns:
        list[str]: ``/``-separated relative paths.
    """
    files = [
        f'{folder}/{img_id}{suffix}' for folder, suffix in _FOLDERS.values()
        for img_id in seg_image_ids(num_images)
    ]
    return files + list(_FIXED_FILES)


def _legacy_seg_files(meta: dict) -> List[str]:
    num_images = meta['num_images']
    if not is_int(num_images) or num_images < 0:
        raise ValueError(f'num_images {num_images!r}')
    return seg_dataset_files(num_images)


LEGACY_LAYOUTS[SEG_FORMAT] = _legacy_seg_files


def voc_palette() -> np.ndarray:
    """The PASCAL VOC colour map (256 entries; 255 is the void colour).

    Returns:
        numpy.ndarray: uint8 ``(256, 3)``.
    """
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette


_VOC_PALETTE_FLAT = voc_palette().reshape(-1).tolist()


def seg_class_appearance(voc_index: int) -> Tuple[str, str]:
    """Shape and fill pattern of a foreground VOC class.

    Classes 1-5 are the five shapes with a plain fill, 6-10 the same shapes
    striped, 11-15 checkered, 16-20 dotted; colours are random, so the
    class is told by outline and pattern.

    Returns:
        tuple[str, str]: ``(shape, pattern)``.
    """
    if not 1 <= voc_index <= NUM_VOC_FOREGROUND:
        raise ValueError(f'voc_index must be in [1, 20], got {voc_index!r}')
    j = voc_index - 1
    return SHAPE_NAMES[j %
                       len(SHAPE_NAMES)], TEXTURE_PATTERNS[j //
                                                           len(SHAPE_NAMES)]


def write_label_png(path: str, label_map: np.ndarray) -> None:
    """Write a label map as a VOC palette PNG (values stay the indices)."""
    # putpalette turns the 'L' image into a 'P' one without touching values.
    img = Image.fromarray(np.ascontiguousarray(label_map, dtype=np.uint8))
    img.putpalette(_VOC_PALETTE_FLAT)
    img.save(path)


def read_label_png(path: str) -> np.ndarray:
    """Read a palette PNG back to its index array ``(H, W)`` uint8."""
    with Image.open(path) as img:
        return np.array(img)


def _ignore_band(label_map: np.ndarray, width: int) -> np.ndarray:
    """Pixels next to a change of label, like the void outline of VOC."""
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(label_map, kernel) != cv2.erode(label_map, kernel)
    if width > 1:
        edge = cv2.dilate(
            edge.astype(np.uint8), np.ones((width, width),
                                           np.uint8)).astype(bool)
    return edge


def _place_objects(rng: np.random.Generator, height: int, width: int,
                   class_ids: Sequence[int]) -> Tuple[np.ndarray, List[dict]]:
    """Choose classes, shapes and positions of one scene.

    Returns:
        tuple: ``owner`` (int32 ``(H, W)``, -1 background) and the placed
        objects (``label`` VOC index, in-image ``mask``, ``area``), bottom
        to top.
    """
    side = min(height, width)
    min_area = max(30, int(round(4e-3 * height * width)))
    num_objects = int(rng.integers(1, _MAX_OBJECTS + 1))
    num_classes = int(
        rng.integers(
            1,
            min(_MAX_CLASSES_PER_IMAGE, len(class_ids), num_objects) + 1))
    chosen = rng.choice(np.asarray(class_ids), num_classes, replace=False)
    labels = list(chosen) + list(rng.choice(chosen, num_objects - num_classes))
    labels = [int(labels[k]) for k in rng.permutation(num_objects)]

    owner = np.full((height, width), -1, np.int32)
    placed: List[dict] = []
    for label in labels:
        shape = seg_class_appearance(label)[0]
        for _ in range(_PLACEMENT_TRIES):
            extent = side * math.exp(rng.uniform(*np.log(_EXTENT_RANGE)))
            aspect = math.exp(rng.uniform(*np.log(_ASPECT_RANGE)))
            half = (0.5 * extent * math.sqrt(aspect),
                    0.5 * extent / math.sqrt(aspect))
            reach = 0.5 * max(half)
            cx = rng.uniform(
                min(reach, width / 2), max(width - reach, width / 2))
            cy = rng.uniform(
                min(reach, height / 2), max(height - reach, height / 2))
            mask = rasterize(
                place_shape(
                    unit_shape(shape, rng), (cx, cy), half,
                    rng.uniform(0, 360)), height, width)
            area = int(mask.sum())
            if area < 2 * min_area:
                continue
            trial = owner.copy()
            trial[mask] = len(placed)
            if any(
                    np.count_nonzero(
                        trial == j) < max(min_area, _PLACEMENT_VISIBLE *
                                          obj['area'])
                    for j, obj in enumerate(placed)):
                continue
            owner = trial
            placed.append(dict(label=label, mask=mask, area=area))
            break
    return owner, placed


def draw_seg_image(
    rng: np.random.Generator, height: int, width: int, class_ids: Sequence[int]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[dict]]:
    """Draw one segmentation scene.

    Args:
        rng (numpy.random.Generator): The image's scene generator.
        height (int): Image height.
        width (int): Image width.
        class_ids (Sequence[int]): VOC indices objects may take.

    Returns:
        tuple: uint8 RGB image ``(H, W, 3)``; the clean label map (uint8
        ``(H, W)``, no ignore band); the ground truth (the clean map with a
        255 band along label changes); and the visible objects (``label``,
        boolean ``mask``), bottom to top. The ground truth holds exactly the
        foreground classes of the clean map.
    """
    scale = min(height, width) / 192.0
    band = max(1, int(round(scale)))
    while True:  # redraw the rare scene an ignore band erases a class from
        canvas = cluttered_background(rng, height, width)
        owner, placed = _place_objects(rng, height, width, class_ids)
        if not placed:
            continue
        clean = np.zeros((height, width), np.uint8)
        for obj in placed:
            paint(canvas, obj['mask'], rng,
                  seg_class_appearance(obj['label'])[1], scale)
            clean[obj['mask']] = obj['label']
        gt = clean.copy()
        gt[_ignore_band(clean, band)] = IGNORE_INDEX
        if set(np.unique(clean)) - {0} != set(
                np.unique(gt)) - {0, IGNORE_INDEX}:
            continue
        objects = [
            dict(label=obj['label'], mask=owner == j)
            for j, obj in enumerate(placed)
        ]
        return finish_image(rng, canvas), clean, gt, objects


def image_tags(label_map: np.ndarray) -> np.ndarray:
    """The 20-d 0/1 tag vector of the foreground classes in a label map
    (index ``k`` is VOC class ``k + 1``; 0 and 255 are not tags).

    Returns:
        numpy.ndarray: float32 ``(20,)``.
    """
    tags = np.zeros(NUM_VOC_FOREGROUND, np.float32)
    present = np.unique(label_map)
    present = present[(present > 0) & (present <= NUM_VOC_FOREGROUND)]
    tags[present - 1] = 1.0
    return tags


def _rounded(quality: Mapping[str, float]) -> Dict[str, float]:
    return {k: round(float(v), 6) for k, v in quality.items()}


def resolve_class_ids(num_classes: Optional[int],
                      class_ids: Optional[Sequence[int]]) -> List[int]:
    """The foreground VOC indices a dataset uses, from either argument of
    :func:`make_seg_dataset`.

    Args:
        num_classes (int, optional): Use ``1..num_classes`` (default 4).
        class_ids (Sequence[int], optional): Use these indices instead.

    Returns:
        list[int]: The indices, ascending.

    Raises:
        ValueError: On an index outside [1, 20], a repeated index, an empty
            or non-sequence ``class_ids``, or ``num_classes`` contradicting
            ``class_ids``.
    """
    if num_classes is not None and (
            not is_int(num_classes)
            or not 1 <= num_classes <= NUM_VOC_FOREGROUND):
        raise ValueError(
            f'num_classes must be an int in [1, 20], got {num_classes!r}')
    if class_ids is None:
        return list(range(1, (4 if num_classes is None else num_classes) + 1))
    if isinstance(class_ids, (str, bytes)) or not isinstance(
            class_ids, Sequence) or not class_ids or not all(
                is_int(c) and 1 <= c <= NUM_VOC_FOREGROUND
                for c in class_ids) or len(set(class_ids)) != len(class_ids):
        raise ValueError('class_ids must be a non-empty sequence of unique '
                         f'VOC indices in [1, 20], got {class_ids!r}')
    if num_classes is not None and num_classes != len(class_ids):
        raise ValueError(f'num_classes={num_classes} contradicts class_ids='
                         f'{list(class_ids)}; pass one of them')
    return sorted(int(c) for c in class_ids)


def make_seg_dataset(out_dir: str,
                     num_images: int = 300,
                     seed: int = 0,
                     img_size: Sequence[int] = (192, 192),
                     val_fraction: float = 0.2,
                     num_classes: Optional[int] = None,
                     proxy_noise_mixture: Optional[Mapping[str, float]] = None,
                     overwrite: bool = False,
                     show_progress: bool = True,
                     class_ids: Optional[Sequence[int]] = None) -> Dict:
    """Generate the VOC-style weakly supervised segmentation dataset.

    The same arguments always give byte-identical annotation files and
    identical images. Scenes, proxy noise and saliency maps come from
    separate generators per image, so each depends only on ``seed`` and
    the image index. The first ``num_train`` images form the train split;
    proxy severity tiers are allocated within each split in the mixture's
    proportions (see ``docs/generated_data.md``).

    Args:
        out_dir (str): Output folder; must be missing or empty unless
            ``overwrite``.
        num_images (int): Images in both splits together, >= 2.
        seed (int): Non-negative random seed.
        img_size (Sequence[int]): ``(height, width)``.
        val_fraction (float): Share of val images, in ``(0, 1)``.
        num_classes (int, optional): Foreground classes used, VOC indices
            ``1..num_classes``, in ``[1, 20]``. Default: 4, or the length
            of ``class_ids``.
        proxy_noise_mixture (Mapping[str, float], optional): Weights of the
            proxy severity tiers ``clean``, ``mild``, ``moderate``,
            ``severe``. Defaults to
            :data:`~mmattn.synthetic.noise.DEFAULT_PROXY_NOISE_MIXTURE`.
        overwrite (bool): Replace a dataset generated in ``out_dir`` before:
            delete the files its ``mmattn_manifest.json`` lists and nothing
            else (see :func:`~mmattn.synthetic.common.prepare_output_dir`).
        show_progress (bool): Show mmengine's progress bar.
        class_ids (Sequence[int], optional): The foreground VOC indices to
            use instead of ``1..num_classes``, e.g. ``(1, 7)`` for plain
            rectangles and striped ellipses, which differ in texture as
            well as outline (:func:`seg_class_appearance`). Unique, in
            ``[1, 20]``; used in ascending order.

    Returns:
        dict: Summary with ``out_dir``, ``classes`` (VOC indices),
        ``class_names``, ``num_train``, ``num_val``, ``severity_counts``,
        the mean proxy quality per split (``proxy_miou``), ``seed`` and
        ``img_size``.
    """
    num_train, num_val, size = check_common_args(num_images, seed, img_size,
                                                 val_fraction)
    height, width = size
    class_ids = resolve_class_ids(num_classes, class_ids)
    num_classes = len(class_ids)
    mixture = check_noise_mixture(
        DEFAULT_PROXY_NOISE_MIXTURE if proxy_noise_mixture is
        None else proxy_noise_mixture)
    out_dir = prepare_output_dir(out_dir, seg_dataset_files(num_images),
                                 overwrite, SEG_FORMAT)
    dirs = {key: folder for key, (folder, _) in _FOLDERS.items()}
    dirs['sets'] = osp.join(*_SETS_DIR.split('/'))
    for sub in dirs.values():
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    ids = seg_image_ids(num_images)
    splits = dict(train=ids[:num_train], val=ids[num_train:])
    severities = {}
    for split_index, (split, split_ids) in enumerate(splits.items()):
        severities.update(
            zip(
                split_ids,
                allocate_severities(
                    image_rng(seed, _SPLIT_STREAM, split_index),
                    len(split_ids), mixture)))

    print_log(
        f'Generating {num_images} segmentation images ({num_train} train, '
        f'{num_val} val) of {height}x{width}, classes {class_ids}, with '
        f'seed {seed} in {out_dir}',
        logger='current')
    cls_labels, proxy_quality, saliency_ref = {}, {}, {}
    for index in progress(range(num_images), show_progress):
        img_id = ids[index]
        img, clean, gt, objects = draw_seg_image(
            image_rng(seed, _SCENE_STREAM, index), height, width, class_ids)
        proxy, noise = make_proxy_mask(
            image_rng(seed, _PROXY_STREAM, index), clean, objects, class_ids,
            severities[img_id])
        saliency, sal_record = make_saliency_reference(
            image_rng(seed, _SALIENCY_STREAM, index), clean, objects)

        write_jpeg(osp.join(out_dir, dirs['img'], f'{img_id}.jpg'), img)
        write_label_png(osp.join(out_dir, dirs['gt'], f'{img_id}.png'), gt)
        write_label_png(
            osp.join(out_dir, dirs['proxy'], f'{img_id}.png'), proxy)
        if not cv2.imwrite(
                osp.join(out_dir, dirs['saliency'], f'{img_id}.png'),
                saliency):
            raise OSError(f'could not write the saliency map of {img_id}')

        cls_labels[img_id] = image_tags(gt)
        split = 'train' if index < num_train else 'val'
        proxy_quality[img_id] = dict(
            split=split,
            severity=severities[img_id],
            noise=noise,
            **_rounded(mask_quality(gt, proxy)))
        sal_fg = (saliency >= SALIENCY_THRESHOLD).astype(np.uint8)
        sal_quality = mask_quality(gt, sal_fg)
        saliency_ref[img_id] = dict(
            split=split,
            **sal_record,
            fg_iou=round(sal_quality['fg_iou'], 6),
            fg_fmeasure=round(sal_quality['fg_fmeasure'], 6))

    for split, split_ids in splits.items():
        with open(osp.join(out_dir, dirs['sets'], f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i}\n' for i in split_ids))
    np.save(osp.join(out_dir, 'cls_labels.npy'), cls_labels)
    write_json(
        osp.join(out_dir, 'proxy_quality.json'),
        proxy_quality,
        layout='records')
    write_json(
        osp.join(out_dir, 'saliency_ref.json'), saliency_ref, layout='records')

    severity_counts = {
        split: {
            tier: sum(severities[i] == tier for i in split_ids)
            for tier in mixture
        }
        for split, split_ids in splits.items()
    }
    proxy_miou = {
        split:
        round(
            float(np.mean([proxy_quality[i]['miou'] for i in split_ids])), 6)
        for split, split_ids in splits.items()
    }
    summary = dict(
        format=SEG_FORMAT,
        version=SEG_FORMAT_VERSION,
        out_dir=out_dir,
        seed=seed,
        num_images=num_images,
        num_train=num_train,
        num_val=num_val,
        img_size=[height, width],
        val_fraction=float(val_fraction),
        num_classes=num_classes,
        classes=class_ids,
        class_names=[VOC_CLASSES[c] for c in class_ids],
        class_appearance={
            str(c): dict(zip(('shape', 'pattern'), seg_class_appearance(c)))
            for c in class_ids
        },
        ignore_index=IGNORE_INDEX,
        proxy_noise_mixture=dict(mixture),
        severity_counts=severity_counts,
        proxy_miou=proxy_miou,
        fmeasure_beta2=FMEASURE_BETA2,
        saliency_threshold=SALIENCY_THRESHOLD,
        files=dict(
            images='JPEGImages/{id}.jpg',
            ground_truth='SegmentationClass/{id}.png',
            proxy='SegmentationClassProxy/{id}.png',
            saliency='SaliencyRef/{id}.png',
            train_list='ImageSets/Segmentation/train.txt',
            val_list='ImageSets/Segmentation/val.txt',
            cls_labels='cls_labels.npy',
            proxy_quality='proxy_quality.json',
            saliency_ref='saliency_ref.json'))
    write_json(
        osp.join(out_dir, 'meta.json'), {
            k: v
            for k, v in summary.items() if k != 'out_dir'
        })
    print_log(
        f'Wrote {num_images} images; proxy mIoU vs ground truth: '
        f'train {proxy_miou["train"]:.3f}, val {proxy_miou["val"]:.3f}',
        logger='current')
    return summary
