# SAL-Net-VGG16 model (paper Sec. IV-A, Fig. 7): DeepLab-v2 VGG16 (output
# stride 8, ASPP-L with rates 6/12/18/24 and fc6/fc7/fc8 branches, logits
# summed) with the classification subnetwork (rates 1/3/6/9) and the
# selection + attention losses (Eq. 14, lambda = 2).
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(321, 321))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    # ImageNet VGG16 weights in torchvision's layout (keys features.N.*)
    # load with init_cfg=dict(type='Pretrained', checkpoint='vgg16.pth');
    # neither mmseg nor mmattn ships them.
    backbone=dict(
        type='DeepLabVGG',
        depth=16,
        strides=(2, 2, 2, 1, 1),
        dilations=(1, 1, 1, 1, 2),
        out_indices=(4, )),
    decode_head=dict(
        type='SALHead',
        seg_branch='aspp_l',
        dilations=(6, 12, 18, 24),
        v2_num_hidden_convs=2,
        in_channels=512,
        in_index=0,
        channels=1024,
        dropout_ratio=0.5,
        num_classes=21,
        align_corners=False,
        # The authors' code uses fusion='first_plus_mean', with_fc=True.
        cls_branch=dict(
            type='SALClassificationBranch',
            channels=256,
            dilations=(1, 3, 6, 9),
            fusion='sum',
            with_fc=False,
            dropout_ratio=0.5),
        attention_guided=True,
        loss_decode=dict(
            type='SelectionLoss', score_key='SF', tau=0.55, weighting='hard'),
        loss_attention=dict(type='AttentionLoss', mode='bce',
                            loss_weight=2.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
