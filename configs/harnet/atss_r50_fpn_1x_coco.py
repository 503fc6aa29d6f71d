# HAR-Net twin without attention: ATSS, ResNet-50, FPN, 1x on COCO.
# Baseline: mmdet::atss/atss_r50_fpn_1x_coco.py, unchanged but for the head
# type: HARATSSHead with every attention part off computes exactly ATSSHead
# (tests/detection/test_harnet_any_head.py checks it), so this row and
# harnet_atss_r50_fpn_1x_coco.py differ only in the attention.
_base_ = ['mmdet::atss/atss_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # The HA row writes dict(_delete_=True, ...): mmengine does not merge a
    # child dict into a base value of None.
    bbox_head=dict(
        type='HARATSSHead',
        spatial_attention=None,
        channel_attention=None,
        cross_level_norm=None,
        extra_conv=False))
