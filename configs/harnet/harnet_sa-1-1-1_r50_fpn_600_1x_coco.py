# HAR-Net Table I, ResNet-50, "SA(1-1-1)" (36.4 AP): spatial attention with
# dilations 1-1-1 and C=32 added to the RetinaNet baseline (600 px).
_base_ = ['./retinanet_r50_fpn_600_1x_coco.py']

model = dict(
    bbox_head=dict(
        spatial_attention=dict(
            _delete_=True,
            type='SpatialAttention', channels=32, dilations=(1, 1, 1))))
