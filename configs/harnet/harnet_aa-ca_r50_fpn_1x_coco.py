# HAR-Net Table IV, ResNet-50, "AA+CA" (38.6 AP; 800 px): aligned attention
# on C4 and C5 (AlignedFPN) and the channel attention of Sec. III-B
# (CLGN after every tower conv + extra 3x3 conv + CLSE), no spatial
# attention.
_base_ = [
    './retinanet_r50_fpn_1x_coco.py', './_base_/hybrid_attention.py'
]

model = dict(
    neck={{_base_.aligned_fpn}},
    bbox_head=dict(
        norm_cfg=dict(
            _delete_=True, type='GN', num_groups=32, requires_grad=True),
        cross_level_norm={{_base_.cross_level_norm}},
        channel_attention={{_base_.channel_attention}},
        extra_conv=True))
