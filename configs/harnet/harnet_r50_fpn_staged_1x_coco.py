# HAR-Net Sec. III-D / IV-B, ResNet-50, incremental training of the "HA"
# model (Table IV; the paper reports only a "minor improvement" over
# end-to-end training, no number): the main network is trained first with
# the spatial attention and both CLSE branches taken out of the forward pass
# and frozen, then they are added for the rest of the schedule. The paper
# gives no split; we switch at epoch 6 of 12, so the attention still trains
# for two epochs at the full learning rate before the steps at 8 and 11.
_base_ = ['./harnet_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

custom_hooks = [
    dict(
        type='StagedAttentionHook',
        switch_epoch=6,
        patterns=['spatial_attention', 'channel_attention'],
        stage1='bypass')
]

# Stage 1 leaves the attention parameters without gradients, which DDP
# only tolerates when it looks for unused parameters.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
