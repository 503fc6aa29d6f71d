# HAR-Net hybrid attention (Fig. 5) on ATSS, ResNet-50, FPN, 1x, COCO:
# the Table IV "HA" parts, i.e. aligned attention on C4 and C5 (AlignedFPN),
# and in the HARATSSHead CLGN after every tower conv, spatial attention
# (1-2-5-2-1, C=16), extra 3x3 conv and CLSE. Not a paper row (the paper
# puts HA on RetinaNet only): no paper number.
# Baseline: ./atss_r50_fpn_1x_coco.py, i.e. mmdet::atss/atss_r50_fpn_1x_coco.py
# with its head in mmattn's attention-off twin (same outputs); the two
# configs differ only in model.neck and the head's attention keys.
_base_ = ['./atss_r50_fpn_1x_coco.py']

model = dict(
    neck=dict(
        type='AlignedFPN',
        aligned_levels=(2, 3),  # C4, C5 of out_indices=(0, 1, 2, 3)
        aligned_attention=dict(
            type='AlignedAttention',
            mid_channels=256,
            deform_groups=4,
            deform_type='DCN',
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
            restore_norm_init=0.1)),
    bbox_head=dict(
        # norm_cfg stays the head's GN(32) default; CLGN takes its groups.
        cross_level_norm=dict(
            _delete_=True,
            type='CrossLevelGroupNorm', affine_per_level=False),
        spatial_attention=dict(
            _delete_=True,
            type='SpatialAttention', channels=16,
            dilations=(1, 2, 5, 2, 1)),
        channel_attention=dict(
            _delete_=True,
            type='CrossLevelSE',
            reduced_channels=32,
            pooling='max',
            per_level=False,
            logit_mix=None),
        extra_conv=True))
