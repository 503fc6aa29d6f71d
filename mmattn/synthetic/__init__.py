# Copyright (c) mmattn contributors. All rights reserved.
"""Generated datasets for the demo, tests and benchmarks.

- :func:`make_det_dataset`: COCO-format shape detection
  (:data:`SYNTHETIC_DET_CLASSES`), loaded by mmdet's ``CocoDataset``.
- :func:`make_seg_dataset`: PASCAL-VOC-style segmentation with image tags,
  noisy proxy masks of known quality and saliency-like reference masks,
  loaded by mmseg's ``PascalVOCDataset``.

Only numpy, OpenCV, Pillow and mmengine are imported here, so this package
stays cheap to import. See ``docs/generated_data.md``.
"""
from .common import MANIFEST_NAME, read_manifest
from .det import (DET_DIFFICULTIES, SYNTHETIC_DET_CLASSES, draw_det_image,
                  make_det_dataset)
from .drawing import SHAPE_NAMES, TEXTURE_PATTERNS
from .noise import (DEFAULT_PROXY_NOISE_MIXTURE, FMEASURE_BETA2,
                    PROXY_NOISE_TYPES, PROXY_SEVERITIES, SALIENCY_THRESHOLD,
                    fmeasure, make_proxy_mask, make_saliency_reference,
                    mask_quality)
from .seg import (IGNORE_INDEX, VOC_CLASSES, draw_seg_image, image_tags,
                  make_seg_dataset, read_label_png, resolve_class_ids,
                  seg_class_appearance, voc_palette, write_label_png)

__all__ = [
    'MANIFEST_NAME', 'read_manifest', 'SYNTHETIC_DET_CLASSES', 'DET_DIFFICULTIES', 'make_det_dataset',
    'draw_det_image',
    'make_seg_dataset', 'draw_seg_image', 'resolve_class_ids', 'VOC_CLASSES',
    'IGNORE_INDEX',
    'voc_palette', 'seg_class_appearance', 'image_tags', 'read_label_png',
    'write_label_png', 'SHAPE_NAMES', 'TEXTURE_PATTERNS',
    'DEFAULT_PROXY_NOISE_MIXTURE', 'PROXY_SEVERITIES', 'PROXY_NOISE_TYPES',
    'FMEASURE_BETA2', 'SALIENCY_THRESHOLD', 'make_proxy_mask',
    'make_saliency_reference', 'mask_quality', 'fmeasure'
]
