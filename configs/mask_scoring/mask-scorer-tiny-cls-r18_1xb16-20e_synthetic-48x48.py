# The class-aware tiny scorer whose class head reads a frozen, pretrained
# R-18 (the tiny SAL segmenter's backbone: GN, output stride 8, 32 base
# channels) instead of its own layer 6: from scratch, the tiny scorer does
# not learn to tell the generated classes apart within its CPU budget
# (docs/benchmarks_sal.md), a pretrained backbone already does. Give it the
# weights of a backbone trained on other data (ImageNet weights for real
# images), e.g. the selection benchmark's pre-trained one:
#   --scorer-cfg-options model.class_backbone.init_cfg.checkpoint=PATH
_base_ = ['./mask-scorer-tiny-cls_1xb16-20e_synthetic-48x48.py']

model = dict(
    class_backbone=dict(
        type='ResNetV1c',
        depth=18,
        base_channels=32,
        num_stages=4,
        out_indices=(3, ),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(type='Pretrained', checkpoint=None)))
