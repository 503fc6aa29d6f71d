# HAR-Net's hybrid attention on ATSS, demo size (issue 15 item 4): the HA
# parts of ./harnet_r18_demo.py (aligned attention on C4/C5 with the torch
# deformable conv, CLGN after both tower convs, 1-2-5-2-1 spatial
# attention, the extra conv and CLSE) on the HARATSSHead of ./atss_r18_demo.py.
# Baseline: ./atss_r18_demo.py; the two differ only in model.neck and the
# head's attention keys (tests/detection/test_harnet_ablation_cfg.py).
_base_ = ['./atss_r18_demo.py']

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
