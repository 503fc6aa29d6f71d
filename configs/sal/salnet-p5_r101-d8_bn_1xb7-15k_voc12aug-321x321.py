# Table VI, row ResNet101, column P5 (salnet-p5_r101-d8_1xb7-15k_voc12aug-
# 321x321.py) with plain per-process BN instead of SyncBN. The R-101 rows
# inherit SyncBN from mmseg's DeepLab base: synchronised over the GPUs of a
# tools/dist_train.sh run, and turned into BN by mmengine in a single
# process, where this config trains identically. Use this variant when the
# processes of a distributed run must not sync their BN statistics, e.g.
# CPU processes over gloo, where torch's SyncBatchNorm cannot run
# (docs/distributed.md).
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg))
