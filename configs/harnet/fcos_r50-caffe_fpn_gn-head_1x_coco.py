# HAR-Net twin without attention: FCOS, ResNet-50 (caffe), FPN, GN head, 1x
# on COCO.
# Baseline: mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py, unchanged but
# for the head type: HARFCOSHead with every attention part off computes
# exactly FCOSHead (tests/detection/test_harnet_any_head.py checks it), so
# this row and harnet_fcos_r50-caffe_fpn_gn-head_1x_coco.py differ only in
# the attention.
_base_ = ['mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # The HA row writes dict(_delete_=True, ...): mmengine does not merge a
    # child dict into a base value of None.
    bbox_head=dict(
        type='HARFCOSHead',
        spatial_attention=None,
        channel_attention=None,
        cross_level_norm=None,
        extra_conv=False))
