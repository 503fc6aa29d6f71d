# HAR-Net Table IV, SE-ResNeXt-50, "HA" (HAR-Net, 40.8 AP single scale);
# 800 px.
# Same as ./harnet_r50_fpn_1x_coco.py with the backbone swapped.
# OPTIONAL EXTRA: needs mmpretrain (pip install mmpretrain), which provides
# the SE backbone; mmattn does not depend on it, and the config tests skip
# this file when it is missing.
# mmpretrain has no ImageNet checkpoint for this backbone (see below).
_base_ = ['./harnet_r50_fpn_1x_coco.py']

custom_imports = dict(
    imports=['mmattn', 'mmpretrain.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SEResNeXt',
        depth=50,
        groups=32,
        width_per_group=4,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # mmpretrain publishes no ImageNet weights for this backbone: put
        # a converted SE-ResNeXt checkpoint here before training.
        init_cfg=None))
