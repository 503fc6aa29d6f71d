# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net's head attention (HybridAttentionMixin) on ATSS, GFL and FCOS:
exact parity with the mmdet parent when off, a live spatial attention after
the real init_weights() when on, and the attention really in the towers."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmdet.models.dense_heads import ATSSHead, FCOSHead, GFLHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmattn  # noqa: F401
from mmattn.detection.dense_heads import (HARATSSHead, HARFCOSHead,
                                          HARGFLHead, HybridAttentionMixin)

register_all_modules()

NUM_CLASSES = 3
CH = 8
GN4 = dict(type='GN', num_groups=4, requires_grad=True)
STRIDES = [8, 16, 32, 64, 128]
IMG_H, IMG_W = 96, 160

ATTENTION_KEYS = ('spatial_attention', 'channel_attention',
                  'cross_level_norm', 'extra_conv', 'spatial_attention_loss')
OFF = dict(
    spatial_attention=None,
    channel_attention=None,
    cross_level_norm=None,
    extra_conv=False)
FULL = dict(
    norm_cfg=GN4,
    cross_level_norm=dict(affine_per_level=False),
    spatial_attention=dict(channels=4, dilations=(1, 2, 5, 2, 1)),
    channel_attention=dict(reduced_channels=4, pooling='max'))

_ANCHORS = dict(
    type='AnchorGenerator',
    ratios=[1.0],
    octave_base_scale=8,
    scales_per_octave=1,
    strides=STRIDES)
_ATSS_TRAIN_CFG = dict(
    assigner=dict(type='ATSSAssigner', topk=9),
    allowed_border=-1,
    pos_weight=-1,
    debug=False)
# Small versions of mmdet's R-50 1x COCO heads (atss_r50_fpn_1x_coco.py,
# gfl_r50_fpn_1x_coco.py, fcos_r50-caffe_fpn_gn-head_1x_coco.py).
PARENT_CFGS = {
    'ATSSHead':
    dict(
        anchor_generator=_ANCHORS,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        train_cfg=_ATSS_TRAIN_CFG),
    'GFLHead':
    dict(
        anchor_generator=_ANCHORS,
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        reg_max=16,
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        train_cfg=_ATSS_TRAIN_CFG),
    'FCOSHead':
    dict(
        strides=STRIDES,
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
}
TEST_CFG = dict(
    nms_pre=100,
    min_bbox_size=0,
    score_thr=0.0,
    nms=dict(type='nms', iou_threshold=0.6),
    max_per_img=20)
HEADS = [('HARATSSHead', 'ATSSHead', ATSSHead),
         ('HARGFLHead', 'GFLHead', GFLHead),
         ('HARFCOSHead', 'FCOSHead', FCOSHead)]
HAR_TYPES = {'HARATSSHead': HARATSSHead, 'HARGFLHead': HARGFLHead,
             'HARFCOSHead': HARFCOSHead}


def _cfg(head_type, parent_type, **overrides):
    cfg = dict(
        type=head_type,
        num_classes=NUM_CLASSES,
        in_channels=CH,
        feat_channels=CH,
        stacked_convs=2,
        test_cfg=TEST_CFG,
        **copy.deepcopy(PARENT_CFGS[parent_type]))
    if head_type.startswith('HAR'):
        cfg.update(copy.deepcopy(FULL))
    cfg.update(overrides)
    return cfg


def _build(cfg, seed=0):
    torch.manual_seed(seed)
    head = MODELS.build(ConfigDict(cfg))
    head.init_weights()
    return head


def _pyramid(n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, CH, math.ceil(IMG_H / s), math.ceil(IMG_W / s),
                    generator=gen) for s in STRIDES
    ]


def _samples(n=2):
    samples = []
    for i in range(n):
        sample = DetDataSample()
        sample.set_metainfo(
            dict(img_shape=(IMG_H, IMG_W), pad_shape=(IMG_H, IMG_W),
                 batch_input_shape=(IMG_H, IMG_W), scale_factor=(1.0, 1.0),
                 ori_shape=(IMG_H, IMG_W)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[5.0, 5.0, 70.0, 60.0],
                                 [60.0 + 10 * i, 20.0, 150.0, 90.0]]),
            labels=torch.tensor([1, 2]))
        samples.append(sample)
    return samples


def _flat_losses(losses):
    flat = {}
    for key, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(values):
            flat[f'{key}.{i}'] = v
    return flat


# ---------------------------------------------------------------------------
# 1. attention off: exactly the mmdet parent
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('norm_cfg', [None, GN4], ids=['no-norm', 'gn'])
@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_attention_off_equals_the_mmdet_parent(har_type, parent_type,
                                               parent_cls, norm_cfg):
    _assert_equals_parent(har_type, parent_type, parent_cls,
                          norm_cfg=norm_cfg)


def test_attention_off_equals_fcos_with_its_training_tricks():
    """FCOS's other branches: centerness on the reg tower, the stride-
    normalised boxes (scaled by the stride in eval mode only), center
    sampling."""
    _assert_equals_parent(
        'HARFCOSHead', 'FCOSHead', FCOSHead, norm_cfg=GN4,
        norm_on_bbox=True, centerness_on_reg=True, center_sampling=True,
        center_sample_radius=1.5, loss_bbox=dict(type='GIoULoss',
                                                 loss_weight=1.0))


def _assert_equals_parent(har_type, parent_type, parent_cls, **kwargs):
    parent = _build(_cfg(parent_type, parent_type, **kwargs))
    assert type(parent) is parent_cls
    ours = _build(_cfg(har_type, parent_type, **kwargs, **OFF), seed=1)
    assert isinstance(ours, parent_cls)
    assert isinstance(ours, HybridAttentionMixin)
    # Same parameter names and shapes: the parent's checkpoints load
    # strictly, and ours load into the parent.
    theirs_sd, ours_sd = parent.state_dict(), ours.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    assert {k: v.shape for k, v in ours_sd.items()} == \
        {k: v.shape for k, v in theirs_sd.items()}
    assert not any(torch.equal(ours_sd[k], theirs_sd[k])
                   for k in theirs_sd if k.endswith('conv.weight'))
    ours.load_state_dict(theirs_sd, strict=True)

    feats = _pyramid()
    with torch.no_grad():
        a, b = ours(feats), parent(feats)
    assert len(a) == len(b)
    for out_a, out_b in zip(a, b):
        assert len(out_a) == len(out_b) == len(STRIDES)
        for x, y in zip(out_a, out_b):
            assert torch.equal(x, y)
    # The per-level contract (the parent's forward_single arguments).
    level_args = (parent.scales[2], )
    if parent_type == 'FCOSHead':
        level_args += (parent.strides[2], )
    with torch.no_grad():
        single_a = ours.forward_single(feats[2], *level_args)
        single_b = parent.forward_single(feats[2], *level_args)
    for x, y in zip(single_a, single_b):
        assert torch.equal(x, y)

    samples = _samples()
    loss_a = _flat_losses(ours.loss(feats, samples))
    loss_b = _flat_losses(parent.loss(feats, samples))
    assert loss_a.keys() == loss_b.keys()
    assert any(v.item() > 0 for k, v in loss_b.items() if 'cls' in k)
    for key in loss_b:
        assert torch.equal(loss_a[key], loss_b[key]), key

    ours.eval()
    parent.eval()
    with torch.no_grad():
        for out_a, out_b in zip(ours(feats), parent(feats)):
            for x, y in zip(out_a, out_b):
                assert torch.equal(x, y)
        det_a = ours.predict(feats, samples)
        det_b = parent.predict(feats, samples)
    for x, y in zip(det_a, det_b):
        assert len(x) > 0
        assert torch.equal(x.bboxes, y.bboxes)
        assert torch.equal(x.scores, y.scores)


# ---------------------------------------------------------------------------
# 2. attention on: the real init_weights() gives a live spatial attention
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_spatial_mask_spreads_after_init_weights(har_type, parent_type,
                                                 parent_cls):
    head = _build(_cfg(har_type, parent_type))
    sa = head.spatial_attention
    # SpatialAttention's own init survived the parent's Normal(0.01):
    # Kaiming hidden convs (std sqrt(2 / fan_in)), logit(mask_init) bias.
    first = sa.convs[0].conv
    kaiming_std = math.sqrt(2 / first.weight[0].numel())
    assert first.weight.std().item() == pytest.approx(kaiming_std, rel=0.3)
    assert sa.convs[-1].conv.bias.item() == pytest.approx(
        math.log(sa.mask_init / (1 - sa.mask_init)))
    torch.manual_seed(1)
    x = torch.randn(2, CH, 24, 24)
    with torch.no_grad():
        mask = sa(x).double()
    logit = torch.log(mask / (1 - mask))
    # The dead Normal(0.01) init gave a logit std of about 3e-6.
    assert 0.1 <= logit.std().item() <= 3.0
    assert mask.max() - mask.min() > 0.1
    # ... and the head's masks are that module's, on every level, and not
    # flat on the larger levels (on 3x5 and smaller maps the dilated convs
    # see mostly padding).
    feats = _pyramid()
    with torch.no_grad():
        masks = head.forward_with_masks(feats)[-1]
        assert len(masks) == len(STRIDES)
        for m, f in zip(masks, feats):
            assert torch.equal(m, sa(f))
    for m in masks[:2]:
        m = m.double()
        assert torch.log(m / (1 - m)).std().item() >= 0.1
    assert masks[0].max() - masks[0].min() > 0.1


@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_clgn_tower_starts_as_the_parent_tower(har_type, parent_type,
                                               parent_cls):
    """The parent's init_cfg reaches the CLGN tower convs (Normal(0.01))
    and the cls prior bias; the extra conv keeps ConvModule's Kaiming."""
    ours = _build(_cfg(har_type, parent_type))
    parent = _build(_cfg(parent_type, parent_type, norm_cfg=GN4))
    for branch in ('cls_convs', 'reg_convs'):
        for a, b in zip(getattr(ours, branch), getattr(parent, branch)):
            assert a.conv.bias is None and a.norm_cfg is None
            assert a.conv.weight.std().item() == pytest.approx(
                b.conv.weight.std().item(), rel=0.2)
            assert a.conv.weight.std().item() == pytest.approx(0.01, rel=0.2)
    cls_name = {'ATSSHead': 'atss_cls', 'GFLHead': 'gfl_cls',
                'FCOSHead': 'conv_cls'}[parent_type]
    assert torch.equal(getattr(ours, cls_name).bias,
                       getattr(parent, cls_name).bias)
    assert getattr(ours, cls_name).bias[0].item() == pytest.approx(
        -math.log(0.99 / 0.01), abs=1e-4)
    extra = ours.cls_extra_conv.conv.weight
    assert extra.std().item() > 5 * 0.01
    assert len(ours.cls_norms) == len(ours.cls_convs) == 2


# ---------------------------------------------------------------------------
# 3. attention on: really in the towers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_full_attention_shapes_losses_and_gradients(har_type, parent_type,
                                                    parent_cls):
    ours = _build(_cfg(har_type, parent_type))
    parent = _build(_cfg(parent_type, parent_type, norm_cfg=GN4))
    feats = _pyramid()
    with torch.no_grad():
        a, b = ours(feats), parent(feats)
    assert [[t.shape for t in out] for out in a] == \
        [[t.shape for t in out] for out in b]
    # With CLGN and CLSE one level's output depends on the others.
    with torch.no_grad():
        changed = [f.clone() for f in feats]
        changed[4] = changed[4] * 5 + 3
        c = ours(changed)
    assert (a[0][0] - c[0][0]).abs().max() > 1e-4
    losses = ours.loss(feats, _samples())
    total = sum(_flat_losses(losses).values())
    assert torch.isfinite(total)
    total.backward()
    # A level's Scale trains only where that level has positive priors.
    missing = [
        name for name, p in ours.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
        and not name.startswith('scales.')
    ]
    assert missing == []
    names = [n for n, _ in ours.named_parameters()]
    for part in ('spatial_attention.convs.4', 'cls_norms.1.weight',
                 'reg_channel_attention.fc_reduce', 'cls_extra_conv'):
        assert any(part in n for n in names), part


@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_spatial_attention_loss_is_added_to_the_parent_losses(
        har_type, parent_type, parent_cls):
    supervised = _build(
        _cfg(har_type, parent_type,
             spatial_attention_loss=dict(loss_weight=0.5)))
    plain = _build(_cfg(har_type, parent_type))
    plain.load_state_dict(supervised.state_dict())
    feats, samples = _pyramid(), _samples()
    with_sa = _flat_losses(supervised.loss(feats, samples))
    without = _flat_losses(plain.loss(feats, samples))
    assert set(with_sa) - set(without) == {'loss_sa.0'}
    for key in without:
        assert torch.equal(with_sa[key], without[key]), key
    masks = supervised.forward_with_masks(feats)[-1]
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    assert with_sa['loss_sa.0'].item() == pytest.approx(
        supervised.spatial_attention_loss(masks, gts, metas).item())
    assert with_sa['loss_sa.0'].item() > 0


@pytest.mark.parametrize('har_type, parent_type, parent_cls', HEADS,
                         ids=[h[0] for h in HEADS])
def test_level_independent_parts_only_in_forward_single(har_type,
                                                        parent_type,
                                                        parent_cls):
    head = _build(_cfg(har_type, parent_type))
    with pytest.raises(NotImplementedError, match='all pyramid levels'):
        head.forward_single(_pyramid()[0], head.scales[0])
    with pytest.raises(ValueError, match='built for 5 levels'):
        head(_pyramid()[:4])
    with pytest.raises(ValueError, match=rf'\(N, {CH}, H, W\)'):
        head([torch.randn(2, CH + 1, 4, 4)] * 5)
    with pytest.raises(ValueError, match='cross_level_norm needs norm_cfg'):
        MODELS.build(_cfg(har_type, parent_type, norm_cfg=None))


def test_fcos_dcn_on_last_conv_under_clgn():
    from mmcv.ops import ModulatedDeformConv2dPack
    head = MODELS.build(
        _cfg('HARFCOSHead', 'FCOSHead', dcn_on_last_conv=True))
    parent = MODELS.build(
        _cfg('FCOSHead', 'FCOSHead', norm_cfg=GN4, dcn_on_last_conv=True))
    for ours, theirs in ((head.cls_convs, parent.cls_convs),
                         (head.reg_convs, parent.reg_convs)):
        assert [type(m.conv) for m in ours] == [type(m.conv) for m in theirs]
        assert isinstance(ours[-1].conv, ModulatedDeformConv2dPack)


def test_har_heads_are_registered_with_the_mixin():
    for name, cls in HAR_TYPES.items():
        assert MODELS.get(name) is cls
        assert issubclass(cls, HybridAttentionMixin)


# ---------------------------------------------------------------------------
# 4. the COCO R-50 1x configs: HA on ATSS, GFL and FCOS, their twins, DyHead
# ---------------------------------------------------------------------------
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'harnet')
# (HA config, attention-off twin, mmdet config the twin is, head type)
CONFIG_PAIRS = [
    ('harnet_atss_r50_fpn_1x_coco.py', 'atss_r50_fpn_1x_coco.py',
     'mmdet::atss/atss_r50_fpn_1x_coco.py', 'HARATSSHead'),
    ('harnet_gfl_r50_fpn_1x_coco.py', 'gfl_r50_fpn_1x_coco.py',
     'mmdet::gfl/gfl_r50_fpn_1x_coco.py', 'HARGFLHead'),
    ('harnet_fcos_r50-caffe_fpn_gn-head_1x_coco.py',
     'fcos_r50-caffe_fpn_gn-head_1x_coco.py',
     'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', 'HARFCOSHead'),
]
DYHEAD = 'atss_r50_fpn_dyhead_1x_coco.py'


def _config(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def _header(name):
    lines = []
    with open(osp.join(CONFIG_DIR, name)) as f:
        for line in f:
            if not line.startswith('#'):
                break
            lines.append(line[1:].strip())
    return ' '.join(lines)


def _plain(value):
    """A config value as plain dicts and lists, without the ``_scope_``
    that mmdet:: bases add."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _without_attention(head_cfg):
    head_cfg = _plain(head_cfg)
    for key in ATTENTION_KEYS + ('type', ):
        head_cfg.pop(key, None)
    return head_cfg


@pytest.mark.parametrize('har, twin, mmdet_cfg, head_type', CONFIG_PAIRS,
                         ids=[p[3] for p in CONFIG_PAIRS])
def test_ha_config_and_its_twin_build_and_differ_only_in_attention(
        har, twin, mmdet_cfg, head_type):
    init_default_scope('mmdet')
    ha_cfg, twin_cfg = _config(har), _config(twin)
    mmdet_base = get_config(mmdet_cfg)
    # Each names its baseline, and the twin is the named mmdet config.
    assert twin in _header(har) and mmdet_cfg in _header(har)
    assert mmdet_cfg in _header(twin)
    assert twin_cfg._cfg_dict['custom_imports'] == dict(
        imports=['mmattn'], allow_failed_imports=False)
    assert 'mmattn' in ha_cfg.custom_imports['imports']
    # The twin is the mmdet config with the head type swapped ...
    assert twin_cfg.model.bbox_head.type == head_type
    assert _without_attention(twin_cfg.model.bbox_head) == \
        _without_attention(mmdet_base.model.bbox_head)
    for key in ('backbone', 'neck', 'train_cfg', 'test_cfg'):
        assert _plain(twin_cfg.model.get(key)) == \
            _plain(mmdet_base.model.get(key)), key
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                'param_scheduler', 'train_cfg'):
        assert _plain(twin_cfg[key]) == _plain(mmdet_base[key]), key
    # ... and the HA row is the twin with the neck and the attention keys.
    assert _without_attention(ha_cfg.model.bbox_head) == \
        _without_attention(twin_cfg.model.bbox_head)
    for key in ('backbone', 'train_cfg', 'test_cfg', 'data_preprocessor'):
        assert ha_cfg.model.get(key) == twin_cfg.model.get(key), key
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler'):
        assert ha_cfg[key] == twin_cfg[key], key
    neck = {k: v for k, v in ha_cfg.model.neck.items()
            if k not in ('type', 'aligned_levels', 'aligned_attention')}
    assert neck == {k: v for k, v in twin_cfg.model.neck.items()
                    if k != 'type'}

    ha_model = MODELS.build(ha_cfg.model)
    twin_model = MODELS.build(twin_cfg.model)
    head, twin_head = ha_model.bbox_head, twin_model.bbox_head
    assert type(head).__name__ == type(twin_head).__name__ == head_type
    assert type(ha_model.neck).__name__ == 'AlignedFPN'
    assert ha_model.neck.aligned_levels == (2, 3)
    assert type(twin_model.neck).__name__ == 'FPN'
    assert head.spatial_attention.dilations == (1, 2, 5, 2, 1)
    assert head.cross_level_norm_cfg is not None
    assert head.cls_channel_attention is not None and head.with_extra_conv
    assert len(head.cls_norms) == head.stacked_convs == 4
    assert twin_head.spatial_attention is None
    assert twin_head.cls_norms is None and twin_head.cls_extra_conv is None
    assert twin_head.cls_channel_attention is None
    # The twin's head loads mmdet's head state dict strictly.
    mmdet_base.model.bbox_head.update(
        train_cfg=mmdet_base.model.get('train_cfg'),
        test_cfg=mmdet_base.model.test_cfg)
    mmdet_head = MODELS.build(mmdet_base.model.bbox_head)
    twin_head.load_state_dict(mmdet_head.state_dict(), strict=True)


@pytest.mark.parametrize('har, twin, mmdet_cfg, head_type', CONFIG_PAIRS,
                         ids=[p[3] for p in CONFIG_PAIRS])
def test_ha_config_head_has_a_live_spatial_attention(har, twin, mmdet_cfg,
                                                     head_type):
    """The config's head after the real init_weights(), as the Runner
    builds it (the R-50 mirror of test_harnet_attention_init.py)."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, har))
    head_cfg = copy.deepcopy(cfg.model.bbox_head)
    head_cfg.update(train_cfg=cfg.model.get('train_cfg'),
                    test_cfg=cfg.model.test_cfg)
    torch.manual_seed(0)
    head = MODELS.build(head_cfg)
    head.init_weights()
    sa = head.spatial_attention
    torch.manual_seed(1)
    x = torch.randn(2, head.in_channels, 24, 24)
    with torch.no_grad():
        mask = sa(x).double()
    logit = torch.log(mask / (1 - mask))
    assert 0.1 <= logit.std().item() <= 3.0
    assert logit.mean().item() == pytest.approx(
        math.log(sa.mask_init / (1 - sa.mask_init)), abs=1.2)
    assert mask.max() - mask.min() > 0.1
    # The tower convs start as the twin's: Normal(0.01).
    for layer in head.cls_convs:
        assert layer.conv.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_dyhead_config_is_mmdets_for_comparison():
    init_default_scope('mmdet')
    cfg = _config(DYHEAD)
    mmdet_cfg = 'mmdet::dyhead/atss_r50_fpn_dyhead_1x_coco.py'
    assert mmdet_cfg in _header(DYHEAD)
    assert 'harnet_atss_r50_fpn_1x_coco.py' in _header(DYHEAD)
    base = get_config(mmdet_cfg)
    assert _plain(cfg.model) == _plain(base.model)
    assert cfg.custom_imports['imports'] == ['mmattn']
    model = MODELS.build(cfg.model)
    assert [type(m).__name__ for m in model.neck] == ['FPN', 'DyHead']
    assert type(model.bbox_head) is ATSSHead
    assert model.bbox_head.stacked_convs == 0
