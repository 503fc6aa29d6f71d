# HAR-Net Table III, ResNet-50, "AA(C3, C4, C5)" (36.8 AP): aligned
# attention on C3, C4, C5 before the FPN merge, RetinaNet head unchanged
# (600 px).
_base_ = ['./retinanet_r50_fpn_600_1x_coco.py']

model = dict(
    neck=dict(
        type='AlignedFPN',
        # indices into the backbone outputs C2, C3, C4, C5
        aligned_levels=(1, 2, 3),
        aligned_attention=dict(
            type='AlignedAttention',
            mid_channels=256,
            deform_groups=4,
            deform_type='DCN',
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
            restore_norm_init=0.1)))
