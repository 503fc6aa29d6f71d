# Copyright (c) mmattn contributors. All rights reserved.
"""Pictures of the attention maps of HAR-Net (spatial masks per pyramid
level) and SAL-Net (class attention ``d_s``); see docs/visualization.md."""
from .attention import (
    ATTENTION_KINDS, CLASS, PANEL_SIZE_PX, SPATIAL, TITLE_BAND_PX,
    AttentionMaps, NoAttentionError, align_to_image, attention_kind,
    build_test_pipeline, capture_class_attention, capture_spatial_attention,
    class_names_of, compute_attention, compute_attention_batch, draw_attention,
    figure_size_px, output_name, preprocess, record_calls, select_classes)
from .attention_hook import AttentionVisualizationHook
from .seg_visualization_hook import SegTestVisualizationHook

__all__ = [
    'ATTENTION_KINDS', 'CLASS', 'SPATIAL', 'PANEL_SIZE_PX', 'TITLE_BAND_PX',
    'AttentionMaps', 'AttentionVisualizationHook', 'NoAttentionError',
    'SegTestVisualizationHook',
    'align_to_image', 'attention_kind', 'build_test_pipeline',
    'capture_class_attention', 'capture_spatial_attention', 'class_names_of',
    'compute_attention', 'compute_attention_batch', 'draw_attention',
    'figure_size_px', 'output_name', 'preprocess', 'record_calls',
    'select_classes'
]
