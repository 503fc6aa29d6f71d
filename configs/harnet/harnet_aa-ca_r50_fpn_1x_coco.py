# HAR-Net Table IV, ResNet-50, "AA+CA" (38.6 AP; 800 px): aligned attention
# on C4 and C5 (AlignedFPN) and the channel attention of Sec. III-B
# (CLGN after every tower conv + extra 3x3 conv + CLSE), no spatial
# attention.
_base_ = ['./retinanet_r50_fpn_1x_coco.py']

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
        norm_cfg=dict(
            _delete_=True, type='GN', num_groups=32, requires_grad=True),
        cross_level_norm=dict(
            _delete_=True,
            type='CrossLevelGroupNorm', affine_per_level=False),
        channel_attention=dict(
            _delete_=True,
            type='CrossLevelSE',
            reduced_channels=32,
            pooling='max',
            per_level=False,
            logit_mix=None),
        extra_conv=True))
