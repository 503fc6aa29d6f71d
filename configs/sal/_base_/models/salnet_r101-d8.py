# SAL-Net-ResNet101 model (paper Sec. III-C, Fig. 7): DeepLab ResNet-101 at
# output stride 8 with the classification subnetwork (rates 1/3/6/9) and the
# selection + attention losses (Eq. 14, lambda = 2).
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained='open-mmlab://resnet101_v1c',
    data_preprocessor=dict(size=(321, 321)),
    backbone=dict(depth=101),
    decode_head=dict(
        _delete_=True,
        type='SALHead',
        seg_branch='aspp',
        in_channels=2048,
        in_index=3,
        channels=512,
        # Rates for a 41x41 feature map (321 crops at stride 8); use
        # seg_branch='aspp_l' for DeepLab-v2's original ASPP-L.
        dilations=(1, 6, 12, 18),
        # The paper trains with dropout 0.5.
        dropout_ratio=0.5,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        cls_branch=dict(
            type='SALClassificationBranch',
            channels=256,
            dilations=(1, 3, 6, 9),
            fusion='sum',
            with_fc=False,
            dropout_ratio=0.5),
        attention_guided=True,
        loss_decode=dict(
            type='SelectionLoss', score_key='SF', tau=0.85, weighting='hard'),
        loss_attention=dict(type='AttentionLoss', mode='bce',
                            loss_weight=2.0)),
    # An auxiliary CE head would train on every proxy mask and undo the
    # selection; DeepLab-v2 has none.
    auxiliary_head=None)
