# HAR-Net Table III, ResNet-50, "AA(C4, C5)" (36.9 AP): aligned attention on
# C4, C5 before the FPN merge, RetinaNet head unchanged (600 px).
_base_ = [
    './retinanet_r50_fpn_600_1x_coco.py', './_base_/hybrid_attention.py'
]

model = dict(neck={{_base_.aligned_fpn}})
