# SAL-Net Table VI column P5 recipe (selection loss + attention loss), demo
# size: ../sal/salnet_r18_tiny_synthetic.py at 64 px with half the backbone
# width, on 2 generated classes, with a schedule that fits about 1 CPU
# minute (tools/demo.py, docs/demo.md; 64 px instead of 96 halves the
# segmentation runs, which is what fits the demo in 10 minutes). Selection uses the fine score SF
# (Eq. 7) of a scorer trained on these proxies: tools/sal_pipeline.py
# writes the score file and sets score_file and tau (chosen on the val
# split), as the demo runs it:
#   python tools/sal_pipeline.py data/demo_seg --work-dir work_dirs/sal_demo \
#       --sal-config configs/demo/salnet_r18_demo.py \
#       --scorer-config configs/demo/mask-scorer_demo.py --tau-rule val-proxy
_base_ = ['../sal/salnet_r18_tiny_synthetic.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

# The data this config expects; tools/demo.py generates it into data_root
# with mmattn.synthetic.make_seg_dataset(**demo_data).
demo_data = dict(num_images=400, img_size=(64, 64), num_classes=2)
data_root = 'data/demo_seg'
crop_size = (64, 64)

model = dict(
    data_preprocessor=dict(size=crop_size),
    # Base width 32 (stages 32-64-128-256): a quarter of the backbone's
    # work, which buys the iterations a from-scratch net needs.
    backbone=dict(base_channels=32),
    decode_head=dict(
        in_channels=256,
        loss_decode=dict(score_key='SF', tau=0.5)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWeakSegInputs')
]
# Loading 8 small JPEGs takes milliseconds: no worker processes, so both
# cores go to torch.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        required_scores=('SF', ),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

max_iters = 300
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))

# A fixed training seed: re-runs (and both twins) start from the same
# weights and data order; without it mmengine draws a new seed every run.
randomness = dict(seed=0)
