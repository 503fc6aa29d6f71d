# HAR-Net Table IV "HA" row (Fig. 5), demo size: the twin of
# ./retinanet_r18_demo.py (same easy data at 128 px, schedule and
# post-processing) with the attention of
# ../harnet/harnet_r18_tiny_synthetic.py: aligned attention on C4/C5
# (torch deformable conv), CLGN after both tower convs, 1-2-5-2-1 spatial
# attention, the extra conv and CLSE.
# The model part below is that tiny config's, word for word; with the box
# voting of ./retinanet_r18_demo.py the whole model equals the tiny one but
# for that (tests/foundation/test_demo.py checks that the two stay equal).
_base_ = ['./retinanet_r18_demo.py']

model = dict(
    neck=dict(
        type='AlignedFPN',
        aligned_levels=(2, 3),  # C4, C5
        aligned_attention=dict(
            type='AlignedAttention',
            mid_channels=64,
            deform_groups=4,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
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
