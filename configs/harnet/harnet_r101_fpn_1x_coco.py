# HAR-Net Table IV, ResNet-101, "HA" (HAR-Net, 40.6 AP single scale; 800 px).
_base_ = ['./harnet_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
