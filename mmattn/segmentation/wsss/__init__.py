# Copyright (c) mmattn contributors. All rights reserved.
"""Weakly supervised segmentation from image tags alone: tag files for
your own data (``cls_labels.npy``) and a multi-label classifier whose
class activation maps (CAM) are the seeds of proxy masks."""
from .multilabel_cam import MultiLabelCAMClassifier, normalize_cams
from .tags import (TAG_FORMATS, VOC_CLASSES, TagEntry, TagSourceError,
                   detect_tag_format, image_id_from_name, make_cls_labels,
                   read_class_list, read_coco_tags, read_csv_tags,
                   read_folder_tags, read_json_tags, split_tag_text,
                   tags_to_vectors, write_cls_labels, write_id_list)

__all__ = [
    'MultiLabelCAMClassifier', 'normalize_cams', 'TAG_FORMATS', 'VOC_CLASSES',
    'TagEntry', 'TagSourceError', 'detect_tag_format', 'image_id_from_name',
    'make_cls_labels', 'read_class_list', 'read_coco_tags', 'read_csv_tags',
    'read_folder_tags', 'read_json_tags', 'split_tag_text', 'tags_to_vectors',
    'write_cls_labels', 'write_id_list'
]
