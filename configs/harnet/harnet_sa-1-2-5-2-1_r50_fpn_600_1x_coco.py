# HAR-Net Table I, ResNet-50, "SA(1-2-5-2-1)" (36.6 AP): spatial attention with
# dilations 1-2-5-2-1 and C=16 added to the RetinaNet baseline (600 px).
_base_ = [
    './retinanet_r50_fpn_600_1x_coco.py', './_base_/hybrid_attention.py'
]

model = dict(
    bbox_head=dict(
        spatial_attention={{_base_.spatial_attention}}))
