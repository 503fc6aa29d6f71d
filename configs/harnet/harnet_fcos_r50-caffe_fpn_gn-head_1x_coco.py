# HAR-Net hybrid attention (Fig. 5) on FCOS, ResNet-50 caffe, FPN, GN head,
# 1x, COCO: the Table IV "HA" parts, i.e. aligned attention on C4 and C5
# (AlignedFPN), and in the HARFCOSHead CLGN after every tower conv, spatial
# attention (1-2-5-2-1, C=16), extra 3x3 conv and CLSE. Not a paper row (the
# paper puts HA on RetinaNet only): no paper number.
# Baseline: ./fcos_r50-caffe_fpn_gn-head_1x_coco.py, i.e.
# mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py with its head in
# mmattn's attention-off twin (same outputs); the two configs differ only in
# model.neck and the head's attention keys.
_base_ = ['./fcos_r50-caffe_fpn_gn-head_1x_coco.py', './_base_/hybrid_attention.py']

model = dict(
    neck={{_base_.aligned_fpn}},
    bbox_head=dict(
        # norm_cfg stays the head's GN(32) default; CLGN takes its groups.
        cross_level_norm={{_base_.cross_level_norm}},
        spatial_attention={{_base_.spatial_attention}},
        channel_attention={{_base_.channel_attention}},
        extra_conv=True))
