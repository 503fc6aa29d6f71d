# Multi-label classifier from image tags with class activation maps (CAM) at
# inference (docs/wsss_from_tags.md, step 2), scaled down to train on CPU in
# minutes on the generated VOC-style data of mmattn.synthetic
# (tools/make_data.py seg --out data/synthetic_seg): R-18 at output stride
# 16, 192x192 crops, from random initialisation (no pretrained weights
# needed). Training reads only the images and cls_labels.npy; the val split's
# ground truth scores the CAM seeds (background where every CAM is below
# test_cfg.bg_threshold).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

data_root = 'data/synthetic_seg'
tag_file = 'cls_labels.npy'
crop_size = (192, 192)
# Classes with the background: VOC's 21 (the generated tags have VOC's 20
# foreground entries; cls_labels.npy entry k is class k + 1).
num_classes = 21
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
    type='MultiLabelCAMClassifier',
    data_preprocessor=data_preprocessor,
    # No pretrained weights: trains offline from random initialisation.
    pretrained=None,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        dilations=(1, 1, 1, 2),
        strides=(1, 2, 2, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    in_channels=512,
    num_classes=num_classes,
    loss_cls=dict(
        type='AttentionLoss',
        mode='bce',
        loss_weight=1.0,
        loss_name='loss_cls'),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        bg_threshold=0.15,
        score_thr=0.5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    # Keeps img_tags in the data samples (PackSegInputs would drop them).
    dict(type='PackWeakSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackWeakSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        # Images and tags only: no mask is loaded in training.
        type='WeakVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        tag_file=tag_file,
        score_file=None,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        # The CAMs of the val images' tagged classes against their ground
        # truth (set on_missing_tag='skip' for val images without tags, or
        # use PascalVOCDataset: then the predicted classes are kept).
        type='WeakVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        tag_file=tag_file,
        score_file=None,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    # IRN's 10x learning rate on the classifier, trained from scratch.
    paramwise_cfg=dict(custom_keys=dict(classifier=dict(lr_mult=10.0))),
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
    # mmseg's hook, except that testing never builds the training set.
    visualization=dict(type='SegTestVisualizationHook', interval=1))
env_cfg = dict(cudnn_benchmark=False)
