# Training data of SAL-Net's retraining stage (paper Sec. IV-A): the 10,582
# VOC12 + SBD training images with their proxy masks, image tags and mask
# scores; evaluation on the VOC12 val ground truth.
#
# Expected layout under data_root (see docs/sal_net.md):
#   JPEGImages/<id>.jpg
#   SegmentationClassProxy/<id>.png   proxy masks (e.g. from DSRG), VOC ids
#   SegmentationClass/<id>.png        ground truth (val, and the 1.4k strong)
#   ImageSets/Segmentation/train_aug.txt  (10,582 ids)
#   ImageSets/Segmentation/val.txt
#   cls_labels.npy                    image tags, dict id -> (20,) float
#   mask_scores.json                  written by tools/score_masks.py
data_root = 'data/VOCdevkit/VOC2012'
# DeepLab-v2 crop; the paper trains on 321x321.
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(500, 375),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    # Keeps img_tags and mask_scores in the data samples (PackSegInputs
    # would drop them).
    dict(type='PackWeakSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
weak_train_dataset = dict(
    type='WeakVOCDataset',
    data_root=data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassProxy'),
    ann_file='ImageSets/Segmentation/train_aug.txt',
    tag_file='cls_labels.npy',
    score_file='mask_scores.json',
    required_scores=('SF', ),
    pipeline=train_pipeline)
train_dataloader = dict(
    # The paper's batch size.
    batch_size=7,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=weak_train_dataset)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
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
