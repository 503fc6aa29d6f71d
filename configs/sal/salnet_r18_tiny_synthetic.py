# Table VI, column P5 recipe (refined selection loss + attention loss) scaled
# down to train on CPU in minutes: R-18 (GN) at output stride 8, 64-channel
# ASPP, 192x192 crops, on the generated VOC-style data of mmattn.synthetic
# (tools/make_data.py seg --out data/synthetic_seg; mask scores from
# tools/score_masks.py into data/synthetic_seg/mask_scores.json).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

data_root = 'data/synthetic_seg'
crop_size = (192, 192)
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='SALHead',
        seg_branch='aspp',
        in_channels=512,
        in_index=3,
        channels=64,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        cls_branch=dict(
            type='SALClassificationBranch',
            channels=64,
            dilations=(1, 3, 6, 9),
            fusion='sum',
            dropout_ratio=0.1),
        attention_guided=True,
        # The generated proxies are easier to score than VOC's; 0.5 keeps
        # most of them, as tau = 0.55 does for VGG16 in the paper.
        loss_decode=dict(
            type='SelectionLoss', score_key='SF', tau=0.5, weighting='hard'),
        loss_attention=dict(type='AttentionLoss', mode='bce',
                            loss_weight=2.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWeakSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='WeakVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassProxy'),
        ann_file='ImageSets/Segmentation/train.txt',
        tag_file='cls_labels.npy',
        score_file='mask_scores.json',
        required_scores=('SF', ),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=300),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # mmseg's hook, except that testing never builds the training set
    # (mmattn.visualization.SegTestVisualizationHook); interval=1: the test
    # set is a few batches, mmseg's default of 50 would draw only the first.
    visualization=dict(type='SegTestVisualizationHook', interval=1))
env_cfg = dict(cudnn_benchmark=False)
