# SAL-Net-ResNet101 (Table VI column P5; Table III: 66.6 mIoU on the VOC 2012
# test set, from the evaluation server) run on the 1,456 test images: no
# ground truth, nothing is evaluated here; indexed PNGs for the server are
# written to work_dirs/salnet-p5_r101-d8_voc12-test/results/VOC2012/
# Segmentation/comp6_test_cls/ and packed into results.tgz next to them
# (docs/leaderboards.md). comp6, not comp5: SAL-Net trains on the 10,582
# SBD-augmented images, scores proxies with a saliency model trained on
# other data, and starts from ImageNet weights. The paper's 66.6 also uses
# multi-scale fusion and a dense CRF, which this config leaves out.
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
# mmattn.segmentation.evaluation registers VOCSubmissionMetric.
custom_imports = dict(
    imports=['mmattn'],
    allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012'
# VOC2012test.tar unpacks into the same VOCdevkit/VOC2012 folder:
# JPEGImages/<id>.jpg and ImageSets/Segmentation/test.txt, no
# SegmentationClass, hence no LoadAnnotations.
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _delete_=True,
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/test.txt',
        pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='VOCSubmissionMetric',
    output_dir='work_dirs/salnet-p5_r101-d8_voc12-test',
    competition='comp6',
    archive='results.tgz')
