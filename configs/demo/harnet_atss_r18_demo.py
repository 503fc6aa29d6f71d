# HAR-Net's hybrid attention on ATSS, demo size (issue 15 item 4): the HA
# parts of ./harnet_r18_demo.py (aligned attention on C4/C5 with the torch
# deformable conv, CLGN after both tower convs, 1-2-5-2-1 spatial
# attention, the extra conv and CLSE) on the HARATSSHead of ./atss_r18_demo.py.
# Baseline: ./atss_r18_demo.py; the two differ only in model.neck and the
# head's attention keys (tests/detection/test_harnet_ablation_cfg.py).
_base_ = ['./atss_r18_demo.py', '../harnet/_base_/hybrid_attention.py']

model = dict(
    neck={{_base_.aligned_fpn_cpu}},
    bbox_head=dict(
        cross_level_norm={{_base_.cross_level_norm}},
        spatial_attention={{_base_.spatial_attention}},
        channel_attention={{_base_.channel_attention_cpu}},
        extra_conv=True))
