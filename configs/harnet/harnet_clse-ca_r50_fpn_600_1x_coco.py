# HAR-Net Table II, ResNet-50, "CLSE-CA" (36.6 AP): one cross-level SE
# block per branch, shared by all levels, after the extra 3x3 conv; no CLGN
# (600 px).
_base_ = [
    './retinanet_r50_fpn_600_1x_coco.py', './_base_/hybrid_attention.py'
]

model = dict(
    bbox_head=dict(
        channel_attention={{_base_.channel_attention}},
        extra_conv=True))
