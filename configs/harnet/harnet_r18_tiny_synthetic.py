# CPU-sized stand-in for the HAR-Net Table IV "HA" row (Fig. 5): the
# RetinaNet twin retinanet_r18_tiny_synthetic.py plus aligned attention on
# C4/C5, CLGN after both tower convs, 1-2-5-2-1 spatial attention, the extra
# conv and CLSE. Same data, schedule and post-processing as the twin.
_base_ = ['./retinanet_r18_tiny_synthetic.py', './_base_/hybrid_attention.py']

model = dict(
    neck={{_base_.aligned_fpn_cpu}},
    bbox_head=dict(
        cross_level_norm={{_base_.cross_level_norm}},
        spatial_attention={{_base_.spatial_attention}},
        channel_attention={{_base_.channel_attention_cpu}},
        extra_conv=True))
