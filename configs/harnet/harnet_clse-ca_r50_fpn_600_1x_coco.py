# HAR-Net Table II, ResNet-50, "CLSE-CA" (36.6 AP): one cross-level SE
# block per branch, shared by all levels, after the extra 3x3 conv; no CLGN
# (600 px).
_base_ = ['./retinanet_r50_fpn_600_1x_coco.py']

model = dict(
    bbox_head=dict(
        channel_attention=dict(
            _delete_=True,
            type='CrossLevelSE',
            reduced_channels=32,
            pooling='max',
            per_level=False,
            logit_mix=None),
        extra_conv=True))
