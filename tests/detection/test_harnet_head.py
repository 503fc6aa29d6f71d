# Copyright (c) mmattn contributors. All rights reserved.
"""HARRetinaHead and AlignedFPN: shapes, losses, coupling, RetinaHead parity,
post-processing hook."""
import copy
import math

import pytest
import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

import mmattn  # noqa: F401
from mmattn.detection.necks import AlignedFPN

register_all_modules()

NUM_CLASSES = 3
CH = 8  # FPN / head width
GN4 = dict(type='GN', num_groups=4, requires_grad=True)
STRIDES = [8, 16, 32, 64, 128]

TRAIN_CFG = dict(
    assigner=dict(
        type='MaxIoUAssigner',
        pos_iou_thr=0.5,
        neg_iou_thr=0.4,
        min_pos_iou=0,
        ignore_iof_thr=-1),
    sampler=dict(type='PseudoSampler'),
    allowed_border=-1,
    pos_weight=-1,
    debug=False)
TEST_CFG = dict(
    nms_pre=200,
    min_bbox_size=0,
    score_thr=0.0,
    nms=dict(type='nms', iou_threshold=0.5),
    max_per_img=50)

FULL = dict(
    norm_cfg=GN4,
    cross_level_norm=dict(affine_per_level=False),
    spatial_attention=dict(channels=4, dilations=(1, 2, 5, 2, 1)),
    channel_attention=dict(reduced_channels=4, pooling='max'))
OFF = dict(
    norm_cfg=None,
    cross_level_norm=None,
    spatial_attention=None,
    channel_attention=None,
    extra_conv=False)


def _head_cfg(**overrides):
    cfg = dict(
        type='HARRetinaHead',
        num_classes=NUM_CLASSES,
        in_channels=CH,
        feat_channels=CH,
        stacked_convs=2,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=STRIDES),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0),
        train_cfg=TRAIN_CFG,
        test_cfg=TEST_CFG)
    cfg.update(copy.deepcopy(FULL))
    cfg.update(overrides)
    return cfg


def _build_head(**overrides):
    head = MODELS.build(ConfigDict(_head_cfg(**overrides)))
    head.init_weights()
    return head


def _pyramid(img_h=96, img_w=160, n=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, CH, math.ceil(img_h / s), math.ceil(img_w / s),
                    generator=gen) for s in STRIDES
    ]


def _samples(img_h, img_w, boxes, labels):
    sample = DetDataSample()
    sample.set_metainfo(
        dict(img_shape=(img_h, img_w), pad_shape=(img_h, img_w),
             batch_input_shape=(img_h, img_w), scale_factor=(1.0, 1.0),
             ori_shape=(img_h, img_w)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long))
    return [sample]


# ---------------------------------------------------------------------------
# shapes through a whole tiny detector, odd image size
# ---------------------------------------------------------------------------
def _tiny_detector_cfg():
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=8,
            stem_channels=8,
            out_indices=(0, 1, 2, 3),
            norm_cfg=dict(type='GN', num_groups=4),
            norm_eval=False,
            frozen_stages=-1,
            # mmdet's default zeroes the last norm of every residual block,
            # which zeroes the gradients of the convs before it at init.
            zero_init_residual=False),
        neck=dict(
            type='AlignedFPN',
            in_channels=[8, 16, 32, 64],
            out_channels=CH,
            start_level=1,
            add_extra_convs='on_input',
            num_outs=5,
            aligned_levels=(2, 3),
            aligned_attention=dict(mid_channels=8, norm_cfg=GN4)),
        bbox_head=_head_cfg(),
        train_cfg=TRAIN_CFG,
        test_cfg=TEST_CFG)


def test_shapes_every_level_odd_image_through_backbone_neck_head():
    detector = MODELS.build(ConfigDict(_tiny_detector_cfg()))
    detector.init_weights()
    img = torch.randn(1, 3, 333, 517)
    feats = detector.extract_feat(img)
    expected_hw = []
    h, w = 333, 517
    # ResNet stem (stride 4) and stages: conv arithmetic, ceil at each /2.
    h, w = (h + 1) // 2, (w + 1) // 2  # conv1 stride 2
    h, w = (h + 1) // 2, (w + 1) // 2  # maxpool stride 2 -> C2
    for _ in range(5):  # C3, C4, C5, P6, P7
        h, w = (h + 1) // 2, (w + 1) // 2
        expected_hw.append((h, w))
    assert [tuple(f.shape[2:]) for f in feats] == expected_hw
    cls_scores, bbox_preds = detector.bbox_head(feats)
    num_anchors = 9
    for f, cls, reg in zip(feats, cls_scores, bbox_preds):
        assert cls.shape == (1, num_anchors * NUM_CLASSES, *f.shape[2:])
        assert reg.shape == (1, num_anchors * 4, *f.shape[2:])
    results = detector.bbox_head.predict_by_feat(
        cls_scores, bbox_preds,
        batch_img_metas=[dict(img_shape=(333, 517), scale_factor=(1., 1.))],
        rescale=False)
    bboxes = results[0].bboxes
    assert len(bboxes) > 0
    assert (bboxes[:, 2] <= 517).all() and (bboxes[:, 3] <= 333).all()


def test_gradients_reach_every_parameter():
    # Seeded: with the tiny CLSE bottleneck used here, about one random init
    # in twelve starts with every ReLU unit of fc_reduce dead for this input,
    # which legitimately gives fc_reduce no gradient on the first step.
    torch.manual_seed(0)
    detector = MODELS.build(ConfigDict(_tiny_detector_cfg()))
    detector.init_weights()
    img = torch.randn(1, 3, 96, 128)
    feats = detector.extract_feat(img)
    samples = _samples(96, 128, [[10, 12, 60, 70], [70, 20, 120, 90]],
                       [0, 2])
    losses = detector.bbox_head.loss(feats, samples)
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    missing = [
        name for name, p in detector.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert missing == []
    names = [n for n, _ in detector.named_parameters()]
    # The attention parts are really in there.
    for part in ('aligned_attentions.0.deform.conv.conv_offset',
                 'aligned_attentions.1.restore', 'spatial_attention.convs.4',
                 'cls_norms.1.weight', 'reg_channel_attention.fc_reduce',
                 'cls_extra_conv'):
        assert any(part in n for n in names), part


# ---------------------------------------------------------------------------
# parity with RetinaHead when all attention is off
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('norm_cfg', [None, GN4])
def test_attention_off_equals_retina_head(norm_cfg):
    head = _build_head(**dict(OFF, norm_cfg=norm_cfg))
    retina_cfg = _head_cfg()
    for key in ('cross_level_norm', 'spatial_attention', 'channel_attention',
                'extra_conv'):
        retina_cfg.pop(key, None)
    retina_cfg.update(type='RetinaHead', norm_cfg=norm_cfg)
    retina = MODELS.build(ConfigDict(retina_cfg))
    assert type(retina) is RetinaHead
    retina.init_weights()
    # Identical parameter names: RetinaHead checkpoints load strictly.
    head.load_state_dict(retina.state_dict(), strict=True)
    assert set(head.state_dict()) == set(retina.state_dict())

    feats = _pyramid(n=2)
    ours, theirs = head(feats), retina(feats)
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)
    # the per-level contract too
    for a, b in zip(head.forward_single(feats[2]),
                    retina.forward_single(feats[2])):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)
    samples = _samples(96, 160, [[5, 5, 70, 60]], [1])
    two_images = samples + samples
    ours_loss = head.loss(feats, two_images)
    theirs_loss = retina.loss(feats, two_images)
    for key in theirs_loss:
        for a, b in zip(ours_loss[key], theirs_loss[key]):
            assert torch.allclose(a, b, atol=1e-6)


def test_cls_bias_prior():
    head = _build_head()
    bias = head.retina_cls.bias
    assert torch.allclose(bias, torch.full_like(bias,
                                                -math.log(0.99 / 0.01)),
                          atol=1e-4)


# ---------------------------------------------------------------------------
# the cross-level coupling
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('overrides, coupled', [
    (dict(), True),
    (dict(OFF, norm_cfg=GN4, cross_level_norm=dict()), True),
    (dict(OFF, channel_attention=dict(reduced_channels=4)), True),
    (dict(OFF, channel_attention=dict(reduced_channels=4, per_level=True)),
     False),
    (dict(OFF, spatial_attention=dict(channels=4)), False),
    (dict(OFF, norm_cfg=GN4), False),
    (OFF, False),
])
def test_cross_level_coupling(overrides, coupled):
    torch.manual_seed(0)
    head = _build_head(**overrides)
    head.eval()
    with torch.no_grad():
        # O(1) weights, so that a cross-level effect is far above rounding.
        for p in head.parameters():
            p.normal_(0, 0.5)
    feats = _pyramid()
    with torch.no_grad():
        before = head(feats)
        feats[4] = feats[4] * 5 + 3
        after = head(feats)
    # Levels 0-3 change only through cross-level parts; without them their
    # computation is bit-for-bit the same.
    for k in (0, 1):
        for lvl in range(4):
            if coupled:
                assert (before[k][lvl] - after[k][lvl]).abs().max() > 1e-3
            else:
                assert torch.equal(before[k][lvl], after[k][lvl])


def test_clgn_in_head_matches_block_on_tower_convs():
    head = _build_head(**dict(OFF, norm_cfg=GN4, cross_level_norm=dict()))
    feats = _pyramid()
    conv = head.cls_convs[0]
    assert conv.norm_cfg is None and conv.conv.bias is None
    with torch.no_grad():
        first = [torch.relu(t) for t in head.cls_norms[0](
            [conv(f) for f in feats])]
        second = [torch.relu(t) for t in head.cls_norms[1](
            [head.cls_convs[1](t) for t in first])]
        cls_scores, _ = head(feats)
    for lvl in range(5):
        assert torch.allclose(cls_scores[lvl],
                              head.retina_cls(second[lvl]), atol=1e-5)


def test_spatial_mask_computed_once_per_level_and_shared():
    head = _build_head()
    calls = []
    head.spatial_attention.register_forward_hook(
        lambda m, i, o: calls.append(o.shape))
    feats = _pyramid()
    head(feats)
    assert len(calls) == 5
    assert [c[2:] for c in calls] == [f.shape[2:] for f in feats]


def test_logit_mix_is_half_plain_half_se():
    torch.manual_seed(0)
    mixed = _build_head(
        channel_attention=dict(reduced_channels=4, logit_mix=0.5))
    se_only = _build_head(channel_attention=dict(reduced_channels=4))
    se_only.load_state_dict(mixed.state_dict())
    plain = _build_head(channel_attention=None, extra_conv=True)
    missing, unexpected = plain.load_state_dict(
        mixed.state_dict(), strict=False)
    assert missing == [] and all('channel_attention' in k
                                 for k in unexpected)
    feats = _pyramid()
    with torch.no_grad():
        m, s, p = mixed(feats), se_only(feats), plain(feats)
    for lvl in range(5):
        assert torch.allclose(m[0][lvl], 0.5 * p[0][lvl] + 0.5 * s[0][lvl],
                              atol=1e-5)
        # the mix is on the cls logits only
        assert torch.allclose(m[1][lvl], s[1][lvl], atol=1e-6)


def test_per_level_se_has_one_block_per_level():
    head = _build_head(channel_attention=dict(reduced_channels=4,
                                              per_level=True))
    assert len(head.cls_channel_attention) == 5
    assert all(se.num_levels == 1 for se in head.cls_channel_attention)
    assert head.cls_channel_attention[0] is not head.cls_channel_attention[1]


def test_clgn_per_level_affine_option():
    head = _build_head(cross_level_norm=dict(affine_per_level=True))
    assert head.cls_norms[0].weight.shape == (5, CH)


# ---------------------------------------------------------------------------
# losses and prediction
# ---------------------------------------------------------------------------
def test_loss_empty_and_one_box():
    torch.manual_seed(0)
    head = _build_head()
    feats = _pyramid(96, 160)
    empty = head.loss(feats, _samples(96, 160, [], []))
    assert sum(empty['loss_cls']).item() > 0
    assert sum(empty['loss_bbox']).item() == 0
    one = head.loss(feats, _samples(96, 160, [[20, 16, 84, 70]], [1]))
    assert sum(one['loss_cls']).item() > 0
    assert sum(one['loss_bbox']).item() > 0


def test_predict_returns_boxes_scores_labels():
    head = _build_head(test_cfg=dict(
        TEST_CFG,
        nms=dict(type='soft_nms', iou_threshold=0.5, sigma=0.5,
                 method='gaussian'),
        box_voting=dict(iou_thr=0.6, score_mode='max')))
    head.eval()
    feats = _pyramid(96, 160)
    with torch.no_grad():
        results = head.predict(feats, _samples(96, 160, [], []))
    assert len(results) == 1
    res = results[0]
    k = len(res)
    assert 0 < k <= TEST_CFG['max_per_img']
    assert res.bboxes.shape == (k, 4)
    assert res.scores.shape == (k, ) and res.labels.shape == (k, )
    assert ((res.labels >= 0) & (res.labels < NUM_CLASSES)).all()
    assert ((res.scores > 0) & (res.scores <= 1)).all()


# ---------------------------------------------------------------------------
# post-processing: soft-NMS through batched_nms, box voting hook
# ---------------------------------------------------------------------------
def _candidates():
    return InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.],
                             [50., 50., 60., 60.]]),
        scores=torch.tensor([0.9, 0.8, 0.7]),
        labels=torch.tensor([0, 0, 0]))


def _post(head, **cfg):
    cfg = ConfigDict(dict(TEST_CFG, **cfg))
    return head._bbox_post_process(_candidates(), cfg, rescale=False,
                                   with_nms=True, img_meta=dict())


def test_soft_nms_through_batched_nms_decays_scores():
    head = _build_head()
    res = _post(head, nms=dict(type='soft_nms', iou_threshold=0.5,
                               sigma=0.5, method='gaussian'))
    # No box is removed; the overlapped one is decayed by exp(-iou^2/sigma).
    iou = 90 / 110
    assert torch.allclose(res.scores,
                          torch.tensor([0.9, 0.7,
                                        0.8 * math.exp(-iou**2 / 0.5)]),
                          atol=1e-4)
    assert torch.allclose(res.bboxes[2], torch.tensor([1., 0., 11., 10.]))


def test_box_voting_uses_pre_nms_candidates():
    head = _build_head()
    plain = _post(head)
    assert torch.allclose(plain.bboxes[0], torch.tensor([0., 0., 10., 10.]))
    voted = _post(head, box_voting=dict(iou_thr=0.6, score_mode='max'))
    # Eq. 3: the suppressed box (0.8) votes for the kept one (0.9).
    x_shift = 0.8 / 1.7
    assert torch.allclose(voted.bboxes[0],
                          torch.tensor([x_shift, 0., 10 + x_shift, 10.]),
                          atol=1e-5)
    assert voted.scores[0].item() == pytest.approx(0.9)
    assert torch.allclose(voted.bboxes[1], torch.tensor([50., 50., 60., 60.]))
    assert torch.equal(voted.labels, plain.labels)


def test_bad_box_voting_cfg_fails_at_build_naming_the_value():
    with pytest.raises(ValueError, match='1.5'):
        _build_head(test_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5),
            box_voting=dict(iou_thr=1.5)))
    with pytest.raises(TypeError, match='box_voting'):
        _build_head(test_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5), box_voting=True))
    head = _build_head()
    with pytest.raises(TypeError, match='box_voting'):
        _post(head, box_voting=True)


# ---------------------------------------------------------------------------
# AlignedFPN
# ---------------------------------------------------------------------------
def _fpn(**kwargs):
    cfg = dict(type='AlignedFPN', in_channels=[8, 16, 32, 64],
               out_channels=CH, start_level=1, add_extra_convs='on_input',
               num_outs=5, aligned_attention=dict(mid_channels=8,
                                                  norm_cfg=GN4))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_aligned_fpn_uses_aligned_maps():
    torch.manual_seed(0)
    neck = _fpn(aligned_levels=(3, ))
    neck.init_weights()
    assert isinstance(neck, AlignedFPN)
    assert [b.in_channels for b in neck.aligned_attentions] == [64]
    # offsets zero and residual scale 0.1 survive FPN's Xavier init
    block = neck.aligned_attentions[0]
    assert torch.all(block.deform.conv.conv_offset.weight == 0)
    assert torch.all(block.restore.norm.weight == 0.1)
    inputs = [torch.randn(1, c, s, s) for c, s in ((8, 40), (16, 20),
                                                   (32, 10), (64, 5))]
    outs = neck(inputs)
    assert [tuple(o.shape[2:]) for o in outs] == [(20, 20), (10, 10),
                                                  (5, 5), (3, 3), (2, 2)]
    # Feeding the aligned C5 to a plain FPN with the same weights gives the
    # same pyramid: the aligned map replaces C5 everywhere (incl. P6).
    plain = MODELS.build(dict(type='FPN', in_channels=[8, 16, 32, 64],
                              out_channels=CH, start_level=1,
                              add_extra_convs='on_input', num_outs=5))
    plain.load_state_dict(neck.state_dict(), strict=False)
    aligned = list(inputs)
    aligned[3] = block(inputs[3])
    for a, b in zip(outs, plain(aligned)):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match='expects 4 inputs, got 3'):
        neck(inputs[:3])


@pytest.mark.parametrize('levels, match', [
    ((4, ), r'entry 4 is not an input index .*\(\[1, 2, 3\]'),
    ((0, 3), r'entry 0 is not an input index'),
    ((), r'non-empty sequence .* got \(\)'),
    ((2, 2), r'duplicates: \(2, 2\)'),
    ((2.0, ), r'entry 2.0'),
])
def test_aligned_fpn_bad_levels(levels, match):
    with pytest.raises(ValueError, match=match):
        _fpn(aligned_levels=levels)


# ---------------------------------------------------------------------------
# bad configs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('overrides, exc, match', [
    (dict(norm_cfg=None), ValueError,
     'cross_level_norm needs norm_cfg to be a GN config .* norm_cfg=None'),
    (dict(norm_cfg=dict(type='BN')), ValueError, "norm_cfg=.*'BN'"),
    (dict(cross_level_norm=dict(num_groups=2)), ValueError,
     r"must not set \['num_groups'\]"),
    (dict(feat_channels=10), ValueError,
     'num_channels=10 is not divisible by num_groups=4'),
    (dict(spatial_attention=dict(dilations=[])), ValueError,
     r'dilations .* got \[\]'),
    (dict(spatial_attention=dict(dilations=(1, 0))), ValueError,
     r'got \(1, 0\)'),
    (dict(channel_attention=dict(logit_mix=1.5)), ValueError,
     'logit_mix must be None or in \\(0, 1\\], got 1.5'),
    (dict(channel_attention=dict(per_level='yes')), TypeError,
     "per_level must be a bool, got 'yes'"),
    (dict(channel_attention=dict(pooling='sum')), ValueError,
     "pooling must be one of .* 'sum'"),
    (dict(spatial_attention=True), TypeError,
     'spatial_attention must be a config dict or None, got True'),
    (dict(extra_conv='yes'), TypeError, "extra_conv must be .* 'yes'"),
])
def test_bad_head_config(overrides, exc, match):
    with pytest.raises(exc, match=match):
        MODELS.build(_head_cfg(**overrides))


def test_wrong_number_of_levels_and_forward_single_guard():
    head = _build_head()
    with pytest.raises(ValueError, match='built for 5 levels .* got 4'):
        head(_pyramid()[:4])
    feats = _pyramid()
    feats[3] = torch.randn(1, CH + 2, 2, 3)
    with pytest.raises(ValueError,
                       match=r'\(N, 8, H, W\), got .*\(1, 10, 2, 3\)'):
        head(feats)
    with pytest.raises(NotImplementedError, match='forward\\(x\\)'):
        head.forward_single(_pyramid()[0])
