# HAR-Net Table IV, ResNet-101, "AA+CA" (40.1 AP; 800 px).
_base_ = ['./harnet_aa-ca_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
