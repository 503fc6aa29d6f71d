# HAR-Net Table IV "HA" row (Fig. 5), demo size: the twin of
# ./retinanet_r18_demo.py (same easy data at 128 px, schedule and
# post-processing) with the attention of
# ../harnet/harnet_r18_tiny_synthetic.py: aligned attention on C4/C5
# (torch deformable conv), CLGN after both tower convs, 1-2-5-2-1 spatial
# attention, the extra conv and CLSE.
# The model part below is that tiny config's, word for word; with the box
# voting of ./retinanet_r18_demo.py the whole model equals the tiny one but
# for that (tests/foundation/test_demo.py checks that the two stay equal).
_base_ = ['./retinanet_r18_demo.py', '../harnet/_base_/hybrid_attention.py']

model = dict(
    neck={{_base_.aligned_fpn_cpu}},
    bbox_head=dict(
        cross_level_norm={{_base_.cross_level_norm}},
        spatial_attention={{_base_.spatial_attention}},
        channel_attention={{_base_.channel_attention_cpu}},
        extra_conv=True))
