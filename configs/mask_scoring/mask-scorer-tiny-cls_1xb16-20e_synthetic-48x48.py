# The class-aware tiny mask scorer (an mmattn extension of SAL's Table I
# network): the mask enters as the binary channel plus one channel per
# foreground class, and P = P_fg * A, A the share of the mask's foreground
# whose class a per-pixel class head agrees with, so the scorer can see a
# region whose class does not fit its appearance, an error the binary
# scorer (and the reference masks it learns from) cannot see. Train it on
# a class-aware synthesis, which adds relabelled objects:
#   python tools/synthesize_scoring_set.py --data-root data/synthetic_seg \
#       --split train --out data/synthetic_seg/mask_scoring_cls \
#       --class-aware --val-fraction 0.2
# tools/sal_pipeline.py does this by itself when --scorer-config names a
# class-aware scorer (its num_classes must be the proxies').
_base_ = ['./mask-scorer-tiny_1xb16-20e_synthetic-48x48.py']

scoring_root = 'data/synthetic_seg/mask_scoring_cls'
# Classes of the proxy label maps, background included (VOC indices: 21).
num_classes = 21

model = dict(
    num_classes=num_classes, data_preprocessor=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadLabelMask'),
    dict(type='Resize', scale=(48, 48), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackMaskScoringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadLabelMask'),
    dict(type='Resize', scale=(48, 48), keep_ratio=False),
    dict(type='PackMaskScoringInputs'),
]
train_dataloader = dict(
    dataset=dict(data_root=scoring_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=scoring_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
