# HAR-Net Table III, ResNet-50, "AA(C5)" (36.7 AP): aligned attention on
# C5 before the FPN merge, RetinaNet head unchanged (600 px).
_base_ = [
    './retinanet_r50_fpn_600_1x_coco.py', './_base_/hybrid_attention.py'
]

model = dict(
    neck=dict(
        type='AlignedFPN',
        # indices into the backbone outputs C2, C3, C4, C5
        aligned_levels=(3,),
        aligned_attention={{_base_.aligned_attention}}))
