# SAL (Zhou et al.) Sec. III-B.2, Table I and Sec. IV-A: the fine
# mask-scoring network trained on samples synthesised from the VOC12 aug
# proxy masks (432x432 inputs, L2 loss of Eq. 6, lr 1e-5, batch 8, 50
# epochs). Its val correlation corresponds to Fig. 9 (paper: SF 0.736).
#
# Prepare the samples first (positives/negatives/erode/erase/cut-paste):
#   python -m mmattn.segmentation.mask_scoring.synthesis \
#       --data-root data/VOCdevkit/VOC2012 --split train_aug \
#       --proxy-subdir SegmentationClassProxy --ref-subdir SaliencyRef \
#       --out data/VOCdevkit/VOC2012/mask_scoring --val-fraction 0.1
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012/mask_scoring'
input_size = (432, 432)

model = dict(
    type='MaskScoringNet',
    in_channels=4,
    stem_channels=128,
    channels=192,
    fc_channels=128,
    output_activation='relu',
    data_preprocessor=dict(
        type='MaskScoringDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBinaryMask'),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackMaskScoringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBinaryMask'),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='PackMaskScoringInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='MaskScoringDataset',
        data_root=data_root,
        ann_file='train.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='MaskScoringDataset',
        data_root=data_root,
        ann_file='val.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='MaskScoreMetric')
test_evaluator = val_evaluator

# The paper gives lr, batch and epochs but not the optimiser; Adam is the
# usual choice for GDN networks (Ballé et al., Ma et al. [45]).
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-5))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=5,
        save_best='mask_score/pearson',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=True)
# The segmentation visualiser has nothing to draw for a scalar score.
visualizer = dict(
    type='Visualizer', vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer', _delete_=True)
