# HAR-Net's hybrid attention at the CPU size of the tiny and demo configs,
# named as in ./hybrid_attention.py: a 64-channel aligned attention on
# mmattn's torch deformable conv (same numbers and parameters as mmcv's
# op, several times faster to train on CPU; docs/benchmarks_harnet.md) and
# CLSE with the head's defaults past its size and pooling. (Not a base of
# that file's parts: inheriting would drop their `_delete_`.)
aligned_fpn = dict(
    type='AlignedFPN',
    aligned_levels=(2, 3),  # C4, C5
    aligned_attention=dict(
        type='AlignedAttention',
        mid_channels=64,
        deform_groups=4,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        deform_impl='torch'))
cross_level_norm = dict(
    _delete_=True, type='CrossLevelGroupNorm', affine_per_level=False)
spatial_attention = dict(
    _delete_=True,
    type='SpatialAttention',
    channels=16,
    dilations=(1, 2, 5, 2, 1))
channel_attention = dict(
    _delete_=True, type='CrossLevelSE', reduced_channels=32, pooling='max')
