# HAR-Net's hybrid attention (Fig. 5; Table IV "HA") as named parts, for
# configs that add it to a detector of another base (a config has one
# `model`, so the parts come as variables: `neck={{_base_.aligned_fpn}}`).
# Each part is the same in every config that uses it; a config that needs
# other values writes its own.
#
# Aligned attention (Sec. III-C), and the AlignedFPN that puts it on C4 and
# C5 before the FPN merge.
aligned_attention = dict(
    type='AlignedAttention',
    mid_channels=256,
    deform_groups=4,
    deform_type='DCN',
    norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
    restore_norm_init=0.1)
aligned_fpn = dict(
    type='AlignedFPN',
    aligned_levels=(2, 3),  # C4, C5 of out_indices=(0, 1, 2, 3)
    aligned_attention=aligned_attention)
# The head's attention keys (HybridAttentionMixin; `_delete_` replaces the
# base head's None): CLGN after every tower conv, spatial attention
# 1-2-5-2-1 with C=16 and CLSE, plus `extra_conv=True` in the config.
cross_level_norm = dict(
    _delete_=True, type='CrossLevelGroupNorm', affine_per_level=False)
spatial_attention = dict(
    _delete_=True,
    type='SpatialAttention',
    channels=16,
    dilations=(1, 2, 5, 2, 1))
channel_attention = dict(
    _delete_=True,
    type='CrossLevelSE',
    reduced_channels=32,
    pooling='max',
    per_level=False,
    logit_mix=None)

# The CPU size of the tiny and demo configs: a 64-channel aligned attention
# on mmattn's torch deformable conv (same numbers and parameters as mmcv's
# op, several times faster to train on CPU; docs/benchmarks_harnet.md) and
# CLSE with the head's defaults past its size and pooling; CLGN and the
# spatial attention are the ones above.
aligned_fpn_cpu = dict(
    type='AlignedFPN',
    aligned_levels=(2, 3),  # C4, C5
    aligned_attention=dict(
        type='AlignedAttention',
        mid_channels=64,
        deform_groups=4,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        deform_impl='torch'))
channel_attention_cpu = dict(
    _delete_=True, type='CrossLevelSE', reduced_channels=32, pooling='max')
