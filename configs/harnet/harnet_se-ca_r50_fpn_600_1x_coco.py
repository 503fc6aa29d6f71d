# HAR-Net Table II, ResNet-50, "SE-CA" (36.4 AP): one SE block per pyramid
# level and branch, each seeing only its own level, after the extra 3x3
# conv; no CLGN (600 px). Max pooling as in CLSE, so that this row differs
# from CLSE-CA only in the cross-level concatenation.
_base_ = ['./retinanet_r50_fpn_600_1x_coco.py']

model = dict(
    bbox_head=dict(
        channel_attention=dict(
            _delete_=True,
            type='CrossLevelSE',
            reduced_channels=32,
            pooling='max',
            per_level=True,
            logit_mix=None),
        extra_conv=True))
