# CPU-sized stand-in for the HAR-Net Table IV "HA" row (Fig. 5): the
# RetinaNet twin retinanet_r18_tiny_synthetic.py plus aligned attention on
# C4/C5, CLGN after both tower convs, 1-2-5-2-1 spatial attention, the extra
# conv and CLSE. Same data, schedule and post-processing as the twin.
_base_ = ['./retinanet_r18_tiny_synthetic.py']

model = dict(
    neck=dict(
        type='AlignedFPN',
        aligned_levels=(2, 3),  # C4, C5
        aligned_attention=dict(
            type='AlignedAttention',
            mid_channels=64,
            deform_groups=4,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
            # Same numbers and parameters as mmcv's op, several times faster
            # to train on CPU (docs/benchmarks_harnet.md).
            deform_impl='torch')),
    bbox_head=dict(
        cross_level_norm=dict(
            _delete_=True,
            type='CrossLevelGroupNorm', affine_per_level=False),
        spatial_attention=dict(
            _delete_=True,
            type='SpatialAttention', channels=16,
            dilations=(1, 2, 5, 2, 1)),
        channel_attention=dict(
            _delete_=True,
            type='CrossLevelSE', reduced_channels=32, pooling='max'),
        extra_conv=True))
