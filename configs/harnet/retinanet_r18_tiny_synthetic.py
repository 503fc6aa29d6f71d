# HAR-Net Table IV "baseline" (RetinaNet), CPU-sized stand-in: the twin of
# harnet_r18_tiny_synthetic.py. R-18 with GN trained from scratch, a
# 64-channel FPN and 2 tower convs, on the generated shapes dataset
# (python tools/make_data.py det --out data/synthetic_det). Same schedule,
# data and post-processing as the HAR-Net config, so the two are comparable.
_base_ = ['mmdet::retinanet/retinanet_r18_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

# mmattn.synthetic.SYNTHETIC_DET_CLASSES
classes = ('rectangle', 'ellipse', 'triangle', 'star', 'cross')
data_root = 'data/synthetic_det/'
img_scale = (256, 256)
# GN everywhere: batches are small and the weights start from scratch (no
# pretrained BN statistics can be downloaded here).
gn = dict(type='GN', num_groups=32, requires_grad=True)

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_cfg=gn,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    # HARRetinaHead with every attention part off computes exactly
    # RetinaHead; it is used for the paper's post-processing (below). The
    # HAR-Net twin switches parts on with dict(_delete_=True, ...).
    bbox_head=dict(
        type='HARRetinaHead',
        num_classes=len(classes),
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        # GN in the tower, as CLGN's HAR-Net twin has: the pair then differs
        # only in the attention, and from-scratch training stays stable.
        norm_cfg=gn,
        spatial_attention=None,
        channel_attention=None,
        cross_level_norm=None,
        extra_conv=False),
    test_cfg=dict(
        nms=dict(
            type='soft_nms',
            iou_threshold=0.5,
            sigma=0.5,
            method='gaussian',
            min_score=1e-3),
        box_voting=dict(
            iou_thr=0.6, score_mode='max', top_k=None, exclusive=True)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox')
test_evaluator = val_evaluator

# 600 iterations of batch 8 (about 12 epochs of 400 images): enough for a
# from-scratch R-18 to learn the shapes on 2 CPU cores in about 10 minutes.
max_iters = 600
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[450, 550],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    # From-scratch training with focal loss spikes early without it.
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=8)
