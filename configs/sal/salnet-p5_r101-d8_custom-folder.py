# SAL-Net-ResNet101 recipe (Table VI, row ResNet101, column P5: refined
# selection loss SF >= tau + attention loss, lambda = 2) retrained on YOUR
# OWN folder of images, image tags and proxy masks. Copy this file, edit the
# block below, then follow docs/sal_walkthrough.md (layout, tags, scoring,
# choosing tau, training, testing).
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

# ---------------------------------------------------------------- edit me --
# The folder; every path below is relative to it.
data_root = 'data/my_data'
proxy_dir = 'SegmentationClassProxy'  # proxy masks <id>.png (label ids)
train_split = 'ImageSets/Segmentation/train.txt'  # ids to retrain on
tag_file = 'cls_labels.npy'  # dict id -> (num_classes - 1,) 0/1 tags
# Written by tools/score_masks.py. None: no scores (then weighting='none').
score_file = 'mask_scores.json'
# 'SF' needs a trained scorer (fine scores); 'SC' works with a coarse-only
# score file. The paper's tau: 0.85 on SF for ResNet-101 (0.8 on SC); pick
# yours from the score histogram (walk-through step 3).
score_key = 'SF'
tau = 0.85
# 'hard': w_i = [score >= tau] (Eq. 9); 'soft': w_i = score; 'none': every
# proxy counts (plain retraining, the P2 column; needs no score file).
weighting = 'hard'
# Ground truth for validation/testing; None when you have none (then no
# validation runs and tools/test.py has nothing to evaluate).
gt_dir = 'SegmentationClass'
val_split = 'ImageSets/Segmentation/val.txt'
# Class set. None: PASCAL VOC's 21 classes (labels 0..20, background 0).
# Your own classes: names with background first (label k = classes[k]).
classes = None
palette = None  # None: a fixed random palette (only the visualiser uses it)
# ---------------------------------------------------------------------------

# WeakSegDataset takes any class set from metainfo; WeakVOCDataset only VOC's.
dataset_type = 'WeakVOCDataset' if classes is None else 'WeakSegDataset'

num_classes = 21 if classes is None else len(classes)
metainfo = (None if classes is None else dict(classes=classes)
            if palette is None else dict(classes=classes, palette=palette))

model = dict(
    decode_head=dict(
        num_classes=num_classes,
        loss_decode=dict(score_key=score_key, tau=tau, weighting=weighting)))

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=proxy_dir),
        ann_file=train_split,
        tag_file=tag_file,
        score_file=score_file,
        # A coarse-only file has P = SF = null; ask only for what is used.
        required_scores=(score_key, ) if weighting != 'none' else ()))

# mmseg's own dataset classes read the ground truth; BaseSegDataset takes
# any class set from metainfo, PascalVOCDataset only VOC's.
eval_dataset = dict(
    type='PascalVOCDataset' if classes is None else 'BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    data_prefix=dict(img_path='JPEGImages', seg_map_path=gt_dir),
    ann_file=val_split,
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ])
if gt_dir is None:
    # mmengine wants the loader, loop and evaluator all set or all None.
    val_dataloader = val_cfg = val_evaluator = None
    test_dataloader = test_cfg = test_evaluator = None
else:
    val_dataloader = dict(dataset=dict(_delete_=True, **eval_dataset))
    test_dataloader = val_dataloader
