# HAR-Net Table IV, ResNet-101, "baseline" (RetinaNet, 38.0 AP; 800 px).
# Same head and post-processing as the R-50 baseline (see that file); the
# backbone change is exactly mmdet's retinanet_r101_fpn_1x_coco.py.
_base_ = ['./retinanet_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
