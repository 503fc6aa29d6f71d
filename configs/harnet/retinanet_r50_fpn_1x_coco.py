# HAR-Net Table IV, ResNet-50, "baseline" (RetinaNet, 36.0 AP; 800 px).
# The head is HARRetinaHead with every attention part off, which computes
# exactly RetinaHead (tests/detection/test_harnet_head.py checks it) and
# adds the paper's common post-processing: Gaussian Soft-NMS, then box
# voting (Sec. IV-B, Eq. 3). Test scale as Table IV: shorter side 800,
# longer side at most 1200. The paper also trains with scale jittering,
# which is left out here (mmdet's 1x recipe: fixed scale + flip).
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    # Rows that switch a part on write dict(_delete_=True, ...): mmengine
    # does not merge a child dict into a base value of None.
    bbox_head=dict(
        type='HARRetinaHead',
        norm_cfg=None,
        spatial_attention=None,
        channel_attention=None,
        cross_level_norm=None,
        extra_conv=False),
    test_cfg=dict(
        # mmcv's soft_nms through mmdet's batched_nms; gaussian decay
        # ignores iou_threshold. Soft-NMS runs on the CPU in mmcv.
        nms=dict(
            type='soft_nms',
            iou_threshold=0.5,
            sigma=0.5,
            method='gaussian',
            min_score=1e-3),
        # Eq. 3: score-weighted box, max score; the neighbourhood (IoU >= 0.6
        # with a kept box, same class) is the authors' choice.
        box_voting=dict(
            iou_thr=0.6, score_mode='max', top_k=None, exclusive=True)))

_img_scale = (1200, 800)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=_img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
