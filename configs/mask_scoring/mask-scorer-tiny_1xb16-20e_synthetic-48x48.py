# SAL (Zhou et al.) Table I at a CPU-trainable size: the mask-scoring
# network (same 9-layer layout, narrower: 16/32/32 channels, 48x48 inputs)
# trained on samples synthesised from the generated VOC-style data. Not a
# paper number; the benchmark docs/benchmarks_mask_scoring.md uses it.
#
# Prepare the data:
#   python tools/make_data.py seg --out data/synthetic_seg \
#       --num-images 300 --seed 0
#   python -m mmattn.segmentation.mask_scoring.synthesis \
#       --data-root data/synthetic_seg --split train \
#       --out data/synthetic_seg/mask_scoring --val-fraction 0.2
_base_ = ['./mask-scorer_1xb8-50e_voc12aug-432x432.py']

data_root = 'data/synthetic_seg'
scoring_root = data_root + '/mask_scoring'
input_size = (48, 48)

model = dict(stem_channels=16, channels=32, fc_channels=32)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBinaryMask'),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackMaskScoringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadBinaryMask'),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='PackMaskScoringInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=scoring_root, ann_file='train.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=scoring_root, ann_file='val.json',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# A from-scratch tiny network learns in minutes only with a larger step
# than the paper's 1e-5 (which fine-tunes a 3M-parameter net for 50 epochs).
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=20, val_interval=5)
default_hooks = dict(logger=dict(interval=10))
env_cfg = dict(cudnn_benchmark=False)
