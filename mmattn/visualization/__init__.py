# Copyright (c) mmattn contributors. All rights reserved.
"""Pictures of the attention maps of HAR-Net (spatial masks per pyramid
level) and SAL-Net (class attention ``d_s``); see docs/visualization.md.

Callers draw through :func:`render_attention` (or the per-kind
:func:`render_spatial_attention` / :func:`render_class_attention`), which
return the written files and the maps' value ranges."""
from .attention import (
    ATTENTION_KINDS, CLASS, PANEL_SIZE_PX, SPATIAL, TITLE_BAND_PX,
    AttentionMaps, NoAttentionError, align_to_image, attention_kind,
    build_test_pipeline, capture_class_attention, capture_spatial_attention,
    class_names_of, compute_attention, compute_attention_batch, draw_attention,
    figure_size_px, output_name, preprocess, record_calls, select_classes)
from .attention_hook import AttentionVisualizationHook
from .render import (AttentionPicture, build_attention_model,
                     init_attention_model, load_attention_checkpoint,
                     render_attention, render_class_attention,
                     render_spatial_attention)
from .seg_visualization_hook import SegTestVisualizationHook

__all__ = [
    'ATTENTION_KINDS', 'CLASS', 'SPATIAL', 'PANEL_SIZE_PX', 'TITLE_BAND_PX',
    'AttentionMaps', 'AttentionPicture', 'AttentionVisualizationHook',
    'NoAttentionError', 'SegTestVisualizationHook',
    'align_to_image', 'attention_kind', 'build_attention_model',
    'build_test_pipeline', 'capture_class_attention',
    'capture_spatial_attention', 'class_names_of', 'compute_attention',
    'compute_attention_batch', 'draw_attention', 'figure_size_px',
    'init_attention_model', 'load_attention_checkpoint', 'output_name',
    'preprocess', 'record_calls', 'render_attention',
    'render_class_attention', 'render_spatial_attention', 'select_classes'
]
