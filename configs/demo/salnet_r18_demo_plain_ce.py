# SAL-Net Table VI column P2 twin of ./salnet_r18_demo.py: the same model,
# data and schedule retrained on ALL proxy masks with mmseg's plain ASPPHead
# + CrossEntropyLoss and a plain PascalVOCDataset, as
# ../sal/salnet_r18_tiny_synthetic_plain_ce.py does for the tiny config
# (tests/foundation/test_demo.py checks that the head stays the same).
_base_ = ['./salnet_r18_demo.py']

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='ASPPHead',
        in_channels=256,
        in_index=3,
        channels=64,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PascalVOCDataset',
        data_root='data/demo_seg',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassProxy'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(
                type='RandomResize',
                scale=(64, 64),
                ratio_range=(0.75, 1.5),
                keep_ratio=True),
            dict(type='RandomCrop', crop_size=(64, 64), cat_max_ratio=0.75),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs')
        ]))
