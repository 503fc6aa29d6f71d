# HAR-Net Table IV, ResNet-50, "HA" (harnet_r50_fpn_1x_coco.py) for multi-GPU
# training with SyncBN: the backbone's BN layers are synchronised across GPUs
# and trained (norm_eval=False), as mmdet's SyncBN configs do, instead of
# keeping the ImageNet statistics frozen. Launch with tools/dist_train.sh
# (docs/distributed.md); run in a single process, mmengine turns SyncBN back
# into BN. The neck and head already use GN / CLGN, which need no syncing.
_base_ = ['./harnet_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False))
