# HAR-Net hybrid attention (Fig. 5) on GFL, ResNet-50, FPN, 1x, COCO:
# the Table IV "HA" parts, i.e. aligned attention on C4 and C5 (AlignedFPN),
# and in the HARGFLHead CLGN after every tower conv, spatial attention
# (1-2-5-2-1, C=16), extra 3x3 conv and CLSE. Not a paper row (the paper
# puts HA on RetinaNet only): no paper number.
# Baseline: ./gfl_r50_fpn_1x_coco.py, i.e. mmdet::gfl/gfl_r50_fpn_1x_coco.py
# with its head in mmattn's attention-off twin (same outputs); the two
# configs differ only in model.neck and the head's attention keys.
_base_ = ['./gfl_r50_fpn_1x_coco.py', './_base_/hybrid_attention.py']

model = dict(
    neck={{_base_.aligned_fpn}},
    bbox_head=dict(
        # norm_cfg stays the head's GN(32) default; CLGN takes its groups.
        cross_level_norm={{_base_.cross_level_norm}},
        spatial_attention={{_base_.spatial_attention}},
        channel_attention={{_base_.channel_attention}},
        extra_conv=True))
