# HAR-Net Table IV, SE-ResNet-101, "baseline" (RetinaNet, 39.1 AP); 800 px.
# Same as ./retinanet_r50_fpn_1x_coco.py with the backbone swapped.
# OPTIONAL EXTRA: needs mmpretrain (pip install mmpretrain), which provides
# the SE backbone; mmattn does not depend on it, and the config tests skip
# this file when it is missing.
# ImageNet weights: mmpretrain's model zoo.
_base_ = ['./retinanet_r50_fpn_1x_coco.py']

custom_imports = dict(
    imports=['mmattn', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SEResNet',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/se-resnet/se-resnet101_batch256_imagenet_20200804-ba5b51d4.pth',  # noqa: E501
            prefix='backbone.')))
