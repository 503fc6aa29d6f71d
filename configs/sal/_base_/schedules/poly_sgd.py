# SAL-Net optimisation (paper Sec. IV-A, Eq. 15): SGD, momentum 0.9, weight
# decay 5e-4, poly decay with power 0.9. Configs set lr and max_iters.
max_iters = 15000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-4, momentum=0.9, weight_decay=0.0005),
    # DeepLab-v2 convention of a 10x learning rate on the randomly
    # initialised head; the paper gives only the base learning rate.
    paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0))),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=3000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=3000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # mmseg's hook, except that testing never builds the training set
    # (mmattn.visualization.SegTestVisualizationHook)
    visualization=dict(type='SegTestVisualizationHook'))
