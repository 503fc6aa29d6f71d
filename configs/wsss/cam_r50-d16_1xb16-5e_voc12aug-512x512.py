# Multi-label classifier from image tags with class activation maps (CAM) at
# inference on PASCAL VOC 2012 + SBD ("aug", 10,582 training images), after
# IRN's recipe (Ahn et al., CVPR 2019): ResNet-50 at output stride 16, a
# bias-free 1x1 classifier with a 10x learning rate, 512x512 crops, batch
# 16, 5 epochs (3,310 iterations), multi-label BCE on the tags; CAMs over
# scales 1.0/0.5/1.5/2.0 with flips. A template: no result of it is
# reported here (nothing can be downloaded where mmattn is tested).
#
# Expected layout under data_root (docs/wsss_from_tags.md):
#   JPEGImages/<id>.jpg
#   ImageSets/Segmentation/train_aug.txt  (10,582 ids)
#   ImageSets/Segmentation/val.txt        (1,449 ids)
#   SegmentationClass/<id>.png            val ground truth (scores the CAMs)
#   cls_labels.npy                        tags, id -> (20,) float, e.g. from
#                                         tools/make_tags.py
#
# Offline (no download): --cfg-options model.pretrained=None trains the
# backbone from random initialisation (much weaker CAMs), or give a local
# checkpoint path instead of the URL.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012'
tag_file = 'cls_labels.npy'
crop_size = (512, 512)
num_classes = 21
norm_cfg = dict(type='BN', requires_grad=True)
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
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        dilations=(1, 1, 1, 1),
        # Output stride 16: the last stage keeps the resolution.
        strides=(1, 2, 2, 1),
        norm_cfg=norm_cfg,
        # IRN keeps the pretrained BatchNorm statistics.
        norm_eval=True,
        style='pytorch',
        contract_dilation=True),
    in_channels=2048,
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
        scale=(640, 640),
        ratio_range=(0.5, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWeakSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackWeakSegInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='WeakVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        tag_file=tag_file,
        score_file=None,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        # CAM seeds of the tagged classes against the val ground truth. IRN
        # scores its seeds on the 1,464 train images instead: set ann_file
        # to ImageSets/Segmentation/train.txt in test_dataloader.
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

max_iters = 3310
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(custom_keys=dict(classifier=dict(lr_mult=10.0))),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegTestVisualizationHook'))
