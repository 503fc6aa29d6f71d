# CPU-sized stand-in for HAR-Net's incremental training (Sec. III-D / IV-B)
# of the Table IV "HA" model: harnet_r18_tiny_synthetic.py with the spatial
# attention and both CLSE branches bypassed and frozen for the first half of
# the 600 iterations, then trained.
_base_ = ['./harnet_r18_tiny_synthetic.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

custom_hooks = [
    dict(
        type='StagedAttentionHook',
        switch_iter=300,
        patterns=['spatial_attention', 'channel_attention'],
        stage1='bypass')
]
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
