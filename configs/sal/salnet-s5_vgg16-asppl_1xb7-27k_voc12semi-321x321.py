# Table IX, row S5: semi-supervised SAL-Net-VGG16, 1.4k strong (VOC12 train
# ground truth) + 9k weak (proxy masks of the SBD "aug" images) with the
# selection loss (SF >= 0.55 on the weak part, 7668 selected in the paper)
# and the attention loss. Paper: 66.2 mIoU (Table IX/X).
_base_ = ['./salnet-p5_vgg16-asppl_1xb7-27k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
# Strong images: ground-truth masks, tags read off the masks, and a score
# of 1 in every field, so the selection loss always keeps them (w_i = 1).
strong_train_dataset = dict(
    type='WeakVOCDataset',
    data_root={{_base_.data_root}},
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    tags_from_masks=True,
    tag_file=None,
    score_file=None,
    on_unscored_image=1.0,
    pipeline={{_base_.train_pipeline}})
# Weak images: proxy masks, tags from cls_labels.npy, mask scores.
weak_train_dataset = dict(
    type='WeakVOCDataset',
    data_root={{_base_.data_root}},
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassProxy'),
    ann_file='ImageSets/Segmentation/aug.txt',
    tag_file='cls_labels.npy',
    score_file='mask_scores.json',
    required_scores=('SF', ),
    pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[strong_train_dataset, weak_train_dataset]))
