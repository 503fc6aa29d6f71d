# HAR-Net Table IV, ResNet-50, "HA" model with mmdet's box-level test-time
# augmentation instead of the paper's map merging (no paper row: a
# comparison point for harnet_r50_fpn_1x_coco_mstest.py). Run with
# `python tools/test.py CONFIG CKPT --tta`: DetTTAModel runs every view of
# tta_pipeline (shorter sides 500/750/1500, with and without flip) through
# the model and merges the boxes with one NMS.
_base_ = ['./harnet_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

tta_model = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))

tta_img_scales = [(750, 500), (1125, 750), (2250, 1500)]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='Resize', scale=s, keep_ratio=True)
            for s in tta_img_scales
        ], [
            dict(type='RandomFlip', prob=1.),
            dict(type='RandomFlip', prob=0.)
        ], [dict(type='LoadAnnotations', with_bbox=True)],
                    [
                        dict(
                            type='PackDetInputs',
                            meta_keys=('img_id', 'img_path', 'ori_shape',
                                       'img_shape', 'scale_factor', 'flip',
                                       'flip_direction'))
                    ]])
]
