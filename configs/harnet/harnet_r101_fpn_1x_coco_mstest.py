# HAR-Net Table IV, ResNet-101, "HA w ms" (43.1 AP, COCO val; 43.2 on
# test-dev, Table V): harnet_r101_fpn_1x_coco.py tested at shorter sides
# {500, 750, 1500} as in harnet_r50_fpn_1x_coco_mstest.py.
_base_ = ['./harnet_r101_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    type='HARMultiScaleRetinaNet',
    test_cfg=dict(
        multi_scale=dict(
            scale_factors=[1.0, 2.0],
            extra_scale_factors=[2 / 3],
            cls_merge='prob')))

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1125, 750), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
