# HAR-Net Table IV, ResNet-50, "HA" (38.9 AP on val, single scale) run on
# COCO test-dev2017 for the evaluation server: no ground truth, nothing is
# evaluated here; the detections are written to
# work_dirs/harnet_coco_detection/test.bbox.json (docs/leaderboards.md says
# how to rename, zip and upload it).
_base_ = ['./harnet_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

data_root = 'data/coco/'
# The training/val pipeline's LoadAnnotations is left out: test-dev images
# have no annotations.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1200, 800), keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        # Image ids, file names, sizes and the 80 categories (ids 1..90):
        # the category ids written into the results come from this file.
        ann_file='annotations/image_info_test-dev2017.json',
        data_prefix=dict(img='test2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=None))
test_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    metric='bbox',
    # ann_file gives the category ids of the image-info file; with
    # format_only the metric writes <outfile_prefix>.bbox.json and stops.
    ann_file=data_root + 'annotations/image_info_test-dev2017.json',
    format_only=True,
    outfile_prefix='./work_dirs/harnet_coco_detection/test',
    backend_args=None)
