# Comparison for HAR-Net on ATSS (harnet_atss_r50_fpn_1x_coco.py): DyHead's
# scale-, spatial- and task-aware attention, six blocks after the FPN, with
# an ATSS head without tower convs (stacked_convs=0); mmdet's config as is.
# Baseline: ./atss_r50_fpn_1x_coco.py (mmdet::atss/atss_r50_fpn_1x_coco.py).
# Config: mmdet::dyhead/atss_r50_fpn_dyhead_1x_coco.py.
_base_ = ['mmdet::dyhead/atss_r50_fpn_dyhead_1x_coco.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
