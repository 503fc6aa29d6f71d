# ATSS on the demo data: the attention-off baseline of ./harnet_atss_r18_demo.py
# (ATSS+HA) and ./atss_r18_dyhead_demo.py (ATSS+DyHead), issue 15 item 4.
# Baseline: ./retinanet_r18_demo.py (R-18 with GN from scratch, 64-channel
# FPN, easy shapes at 128 px, AdamW 1e-3, same schedule and seed) with its
# head swapped for mmdet's ATSS head and ATSS's assigner, at the
# demo's tower size (2 GN convs of 64 channels) instead of mmdet's
# 4 x 256: mmdet::atss/atss_r50_fpn_1x_coco.py scaled to the demo.
# HARATSSHead with every attention part off computes exactly ATSSHead
# (tests/detection/test_harnet_any_head.py); the HA twin switches the parts
# on.
_base_ = ['./retinanet_r18_demo.py']

gn = dict(type='GN', num_groups=32, requires_grad=True)

model = dict(
    type='ATSS',
    bbox_head=dict(
        _delete_=True,
        type='HARATSSHead',
        num_classes=5,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        norm_cfg=gn,
        spatial_attention=None,
        channel_attention=None,
        cross_level_norm=None,
        extra_conv=False,
        # mmdet's ATSS settings from here on
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=8,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    # The RetinaNet demo's Soft-NMS, without its box voting (HARRetinaHead
    # only): the same post-processing for ATSS, ATSS+HA and ATSS+DyHead.
    test_cfg=dict(
        _delete_=True,
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(
            type='soft_nms',
            iou_threshold=0.5,
            sigma=0.5,
            method='gaussian',
            min_score=1e-3),
        max_per_img=100))
