# Copyright (c) mmattn contributors. All rights reserved.
"""Weakly supervised segmentation from image tags alone: tag files for
your own data (``cls_labels.npy``), a multi-label classifier whose class
activation maps (CAM) are the seeds of proxy masks, and the proxy masks
made from them (background rule, refinement, low-confidence ignore)."""
from .multilabel_cam import MultiLabelCAMClassifier, normalize_cams
from .proxies import (BACKGROUND_MODES, IGNORE_RULES, PROXY_MANIFEST,
                      REFINE_MODES, CamProxy, ProxyOptions, ProxyOutputDir,
                      ProxyOutputError, background_score, build_cam_pipeline,
                      cam_to_proxy, dense_crf_refine, load_cam_classifier,
                      low_confidence, make_cam_proxies, par_affinity,
                      pixel_adaptive_refine, predict_cams, score_shares,
                      scores_with_background)
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
    'write_cls_labels', 'write_id_list', 'BACKGROUND_MODES', 'REFINE_MODES',
    'IGNORE_RULES', 'PROXY_MANIFEST', 'ProxyOptions', 'CamProxy',
    'ProxyOutputError', 'ProxyOutputDir', 'background_score',
    'scores_with_background', 'score_shares', 'par_affinity',
    'pixel_adaptive_refine', 'dense_crf_refine', 'low_confidence',
    'cam_to_proxy', 'load_cam_classifier', 'build_cam_pipeline',
    'predict_cams', 'make_cam_proxies'
]
