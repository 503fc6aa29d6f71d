# Copyright (c) mmattn contributors. All rights reserved.
"""The paper's multi-scale test (Sec. IV-B, Fig. 6) and mmdet's DetTTAModel
on tiny RetinaNets."""
import copy
import math
import re

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules

import mmattn  # noqa: F401
from mmattn.detection.test_time import (check_two_x_scale_factors,
                                        merge_pyramid_maps, pyramid_merge_plan)

register_all_modules(init_default_scope=True)

NUM_CLASSES = 3
NUM_ANCHORS = 9  # 3 octave scales x 3 ratios; index 3 = ratio 1, scale 1


def _tiny_retinanet(detector='RetinaNet', head=None, multi_scale=None):
    head_cfg = dict(
        type='RetinaHead',
        num_classes=NUM_CLASSES,
        in_channels=16,
        stacked_convs=1,
        feat_channels=16,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
        loss_bbox=dict(type='L1Loss'))
    if detector == 'HARMultiScaleRetinaNet':
        # The decoding contract (predict_by_feat(mlvl_priors=...),
        # nms_candidates) is HARRetinaHead's; with every attention part off
        # it computes exactly RetinaHead.
        head_cfg.update(type='HARRetinaHead', norm_cfg=None,
                        spatial_attention=None, channel_attention=None,
                        cross_level_norm=None, extra_conv=False)
    if head is not None:
        head_cfg.update(head)
    test_cfg = dict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=20)
    if multi_scale is not None:
        test_cfg['multi_scale'] = multi_scale
    return ConfigDict(
        type=detector,
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[128., 128., 128.],
            std=[64., 64., 64.],
            pad_size_divisor=32),
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=8,
            num_stages=4,
            out_indices=(1, 2, 3),
            norm_cfg=dict(type='BN'),
            style='pytorch'),
        neck=dict(
            type='FPN',
            in_channels=[16, 32, 64],
            out_channels=16,
            start_level=0,
            add_extra_convs='on_input',
            num_outs=5),
        bbox_head=head_cfg,
        test_cfg=test_cfg)


def _build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def _sample(height, width, scale=1.0):
    sample = DetDataSample()
    sample.set_metainfo(
        dict(
            img_shape=(height, width),
            ori_shape=(round(height / scale), round(width / scale)),
            scale_factor=(scale, scale)))
    return sample


def _predict(model, images, samples):
    with torch.no_grad():
        return model.test_step(dict(inputs=images, data_samples=samples))


# --------------------------------------------------------------------------
# merging rule
# --------------------------------------------------------------------------
def test_merge_plan_pairs_level_l_of_small_with_level_l_plus_1_of_large():
    # scale 0 = smaller image, scale 1 = larger (2x) image, 5 levels P3-P7
    assert pyramid_merge_plan(5, 2) == [
        [(1, 0)],  # large P3: finer than anything in the small image
        [(0, 0), (1, 1)],  # small P3 + large P4, stride 8 in input pixels
        [(0, 1), (1, 2)],
        [(0, 2), (1, 3)],
        [(0, 3), (1, 4)],
        [(0, 4)],  # small P7: coarser than anything in the large image
    ]
    assert pyramid_merge_plan(2, 3) == [[(2, 0)], [(1, 0), (2, 1)],
                                        [(0, 0), (1, 1)], [(0, 1)]]


def test_merge_averages_shared_maps_and_passes_the_others():
    # small image: levels 4x4, 2x2, 1x1 filled with 1, 2, 3
    # large image: levels 8x8, 4x4, 2x2 filled with 10, 20, 30
    # merged: 8x8 of 10 (large only), 4x4 of (1+20)/2 = 10.5,
    #         2x2 of (2+30)/2 = 16, 1x1 of 3 (small only)
    small = [
        torch.full((1, 2, s, s), v) for s, v in ((4, 1.), (2, 2.), (1, 3.))
    ]
    large = [
        torch.full((1, 2, s, s), v) for s, v in ((8, 10.), (4, 20.), (2, 30.))
    ]
    merged = merge_pyramid_maps([small, large], pyramid_merge_plan(3, 2))
    assert [tuple(m.shape[-2:]) for m in merged] == [(8, 8), (4, 4), (2, 2),
                                                     (1, 1)]
    for m, value in zip(merged, (10., 10.5, 16., 3.)):
        assert torch.all(m == value)
    assert merged[0] is large[0] and merged[-1] is small[-1]


def test_merge_refuses_maps_that_do_not_line_up():
    small = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2)]
    large = [torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 5, 4)]
    with pytest.raises(ValueError, match=r'\(1, 2, 5, 4\)'):
        merge_pyramid_maps([small, large], pyramid_merge_plan(2, 2))


@pytest.mark.parametrize('good', [[1.0, 2.0], [0.5, 1, 2], (1, 2)])
def test_scale_factors_exactly_two_x_apart(good):
    assert check_two_x_scale_factors(good) == [float(f) for f in good]


@pytest.mark.parametrize(
    'bad',
    [[1.0, 1.5], [2.0, 1.0], [1.0], [0, 0], [1.0, 2.0, 3.0], '12', None])
def test_bad_scale_factors_raise_naming_them(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        check_two_x_scale_factors(bad)


# --------------------------------------------------------------------------
# the detector
# --------------------------------------------------------------------------
def test_bad_multi_scale_configs_raise_at_build():
    with pytest.raises(ValueError, match=r'\[1\.0, 3\.0\]'):
        MODELS.build(
            _tiny_retinanet(
                'HARMultiScaleRetinaNet',
                multi_scale=dict(scale_factors=[1.0, 3.0])))
    with pytest.raises(ValueError, match='scales'):
        MODELS.build(
            _tiny_retinanet(
                'HARMultiScaleRetinaNet',
                multi_scale=dict(scale_factors=[1.0, 2.0], scales=[800])))
    with pytest.raises(ValueError, match="'mean'"):
        MODELS.build(
            _tiny_retinanet(
                'HARMultiScaleRetinaNet',
                multi_scale=dict(scale_factors=[1, 2], cls_merge='mean')))
    with pytest.raises(ValueError, match=r'\[\(8, 8\), \(16, 16\), \(24'):
        MODELS.build(
            _tiny_retinanet(
                'HARMultiScaleRetinaNet',
                head=dict(
                    anchor_generator=dict(
                        type='AnchorGenerator',
                        octave_base_scale=4,
                        scales_per_octave=3,
                        ratios=[0.5, 1.0, 2.0],
                        strides=[8, 16, 24, 64, 128])),
                multi_scale=dict(scale_factors=[1, 2])))


def test_multi_scale_key_does_not_reach_the_head():
    model = _build(
        _tiny_retinanet(
            'HARMultiScaleRetinaNet', multi_scale=dict(scale_factors=[1, 2])))
    assert 'multi_scale' not in model.bbox_head.test_cfg
    assert model.multi_scale_cfg['scale_factors'] == [1.0, 2.0]


def _fake_head_forward(model, picks):
    """Replace the head's forward: all cls logits -20 and deltas 0, except
    ``picks``: (image P3 width, level, row, col, anchor, class, logit, dx)."""
    head = model.bbox_head

    def forward(feats):
        cls_scores, bbox_preds = [], []
        for level, feat in enumerate(feats):
            n, _, h, w = feat.shape
            cls = torch.full((n, NUM_ANCHORS * NUM_CLASSES, h, w), -20.)
            reg = torch.zeros((n, NUM_ANCHORS * 4, h, w))
            for p3_width, lvl, row, col, anchor, label, logit, dx in picks:
                if feats[0].shape[-1] == p3_width and lvl == level:
                    cls[:, anchor * NUM_CLASSES + label, row, col] = logit
                    reg[:, anchor * 4, row, col] = dx
            cls_scores.append(cls)
            bbox_preds.append(reg)
        return cls_scores, bbox_preds

    head.forward = forward


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize('cls_merge', ['prob', 'logit'])
def test_merged_maps_decode_with_the_right_anchors(cls_merge):
    """Hand-worked decoding of a 64x64 input at factors 1 and 2.

    Small image (64 px): P3 8x8 (stride 8) ... P7 1x1 (stride 128).
    Large image (128 px): P3 16x16 (stride 8 of 128 px = 4 input px) ...
    Anchor 3 is square with side 4 * stride, centred at (col, row) * stride.

    1. Large P3 (row 3, col 5), class 2, logit 3 (pass-through level):
       in large pixels the anchor is centred at (40, 24), side 32 ->
       [24, 8, 56, 40]; in input pixels (/2): [12, 4, 28, 20];
       score sigmoid(3).
    2. Small P3 (row 2, col 3), class 0, logit 2, dx 0.2, averaged with
       large P4 (row 2, col 3), logit 0, dx 0: one anchor, side 32, centred
       at (24, 16) -> [8, 0, 40, 32]; mean dx 0.1 moves it by 0.1 * 32 =
       3.2 -> [11.2, 0, 43.2, 32]; score (sigmoid(2) + sigmoid(0)) / 2
       ('prob', the paper) or sigmoid((2 + 0) / 2) ('logit').
    3. Small P7 (0, 0), class 1, logit 1 (pass-through): side 512 centred
       at (0, 0), clipped to the 64x64 image -> [0, 0, 64, 64].
    """
    model = _build(
        _tiny_retinanet(
            'HARMultiScaleRetinaNet',
            multi_scale=dict(scale_factors=[1.0, 2.0], cls_merge=cls_merge)))
    _fake_head_forward(model, [
        (16, 0, 3, 5, 3, 2, 3.0, 0.0),
        (8, 0, 2, 3, 3, 0, 2.0, 0.2),
        (16, 1, 2, 3, 3, 0, 0.0, 0.0),
        (8, 4, 0, 0, 3, 1, 1.0, 0.0),
    ])
    result = _predict(model, [torch.zeros(3, 64, 64)], [_sample(64, 64)])[0]
    pred = result.pred_instances
    by_label = {int(lbl): i for i, lbl in enumerate(pred.labels)}
    assert sorted(by_label) == [0, 1, 2] and len(pred.labels) == 3

    merged_score = (_sigmoid(2) + 0.5) / 2 if cls_merge == 'prob' \
        else _sigmoid(1)
    expected = {
        2: ([12., 4., 28., 20.], _sigmoid(3)),
        0: ([11.2, 0., 43.2, 32.], merged_score),
        1: ([0., 0., 64., 64.], _sigmoid(1)),
    }
    for label, (box, score) in expected.items():
        i = by_label[label]
        assert torch.allclose(pred.bboxes[i], torch.tensor(box), atol=1e-4)
        assert pred.scores[i].item() == pytest.approx(score, abs=1e-5)


def test_merged_anchors_are_the_same_in_both_images():
    model = _build(
        _tiny_retinanet(
            'HARMultiScaleRetinaNet', multi_scale=dict(scale_factors=[1, 2])))
    gen = model.bbox_head.prior_generator
    # small P3 (8x8) and large P4 (8x8, /2) are the same anchors
    small_p3 = gen.single_level_grid_priors((8, 8), 0, device='cpu')
    large_p4 = gen.single_level_grid_priors((8, 8), 1, device='cpu') / 2
    assert torch.allclose(small_p3, large_p4)


def test_end_to_end_two_scales_plus_an_extra_scale():
    cfg = _tiny_retinanet(
        'HARMultiScaleRetinaNet',
        multi_scale=dict(scale_factors=[1.0, 2.0], extra_scale_factors=[0.75]))
    cfg.test_cfg.score_thr = 0.0
    model = _build(cfg)
    # a 50x70 resize of a 100x140 image, padded to 64x96 by the preprocessor
    torch.manual_seed(1)
    images = [torch.rand(3, 50, 70) * 255, torch.rand(3, 50, 70) * 255]
    samples = [_sample(50, 70, scale=0.5), _sample(50, 70, scale=0.5)]
    results = _predict(model, images, samples)
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        num = len(pred)
        assert 0 < num <= 20
        assert pred.bboxes.shape == (num, 4)
        assert pred.scores.shape == (num, ) and pred.labels.shape == (num, )
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        # boxes are in the 100x140 original image
        assert pred.bboxes[:, 0::2].min() >= 0
        assert pred.bboxes[:, 0::2].max() <= 140 + 1e-3
        assert pred.bboxes[:, 1::2].max() <= 100 + 1e-3
        assert torch.all(pred.scores[:-1] >= pred.scores[1:])


def test_without_multi_scale_it_is_a_plain_retinanet():
    plain = _build(_tiny_retinanet('RetinaNet'))
    ours = _build(_tiny_retinanet('HARMultiScaleRetinaNet'))
    ours.load_state_dict(plain.state_dict())
    cfg_score = dict(score_thr=0.0)
    plain.bbox_head.test_cfg.update(cfg_score)
    ours.bbox_head.test_cfg.update(cfg_score)
    image = [torch.rand(3, 64, 64) * 255]
    a = _predict(plain, image, [_sample(64, 64)])[0].pred_instances
    b = _predict(ours, image, [_sample(64, 64)])[0].pred_instances
    assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.scores, b.scores)


def test_with_the_har_head():
    cfg = _tiny_retinanet(
        'HARMultiScaleRetinaNet',
        head=dict(
            type='HARRetinaHead',
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
            spatial_attention=dict(channels=4, dilations=(1, 2, 1)),
            channel_attention=dict(reduced_channels=4)),
        multi_scale=dict(scale_factors=[1, 2]))
    cfg.test_cfg.score_thr = 0.0
    model = _build(cfg)
    pred = _predict(model, [torch.rand(3, 64, 64) * 255],
                    [_sample(64, 64)])[0].pred_instances
    assert 0 < len(pred) <= 20 and pred.bboxes.shape[1] == 4


# --------------------------------------------------------------------------
# mmdet's DetTTAModel (box-level merging) still works with these models
# --------------------------------------------------------------------------
TTA_MODEL = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))

TTA_PIPELINE = [
    dict(type='LoadImageFromNDArray'),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='Resize', scale=(64, 64), keep_ratio=True),
            dict(type='Resize', scale=(96, 96), keep_ratio=True)
        ], [
            dict(type='RandomFlip', prob=1.),
            dict(type='RandomFlip', prob=0.)
        ],
                    [
                        dict(
                            type='PackDetInputs',
                            meta_keys=('img_id', 'img_path', 'ori_shape',
                                       'img_shape', 'scale_factor', 'flip',
                                       'flip_direction'))
                    ]])
]


@pytest.mark.parametrize(
    'detector,multi_scale',
    [('RetinaNet', None),
     ('HARMultiScaleRetinaNet', dict(scale_factors=[1, 2]))])
def test_det_tta_model_wraps_our_models(detector, multi_scale):
    module = _tiny_retinanet(detector, multi_scale=multi_scale)
    module.test_cfg.score_thr = 0.0
    tta = MODELS.build(ConfigDict(copy.deepcopy(TTA_MODEL),
                                  module=module)).eval()
    image = (np.random.RandomState(0).rand(80, 120, 3) * 255).astype(np.uint8)
    data = Compose(TTA_PIPELINE)(dict(img=image, img_id=0, img_path=''))
    assert len(data['inputs']) == 4  # 2 scales x 2 flips
    with torch.no_grad():
        results = tta.test_step(pseudo_collate([data]))
    pred = results[0].pred_instances
    assert 0 < len(pred) <= 20
    assert pred.bboxes[:, 0::2].max() <= 120 + 1e-3
    assert pred.bboxes[:, 1::2].max() <= 80 + 1e-3


# --------------------------------------------------------------------------
# the shipped configs
# --------------------------------------------------------------------------
def test_tiny_mstest_config_predicts_on_generated_images(
        repo_root, synthetic_det_root):
    """harnet_r18_tiny_synthetic_mstest.py end to end: mmdet's CocoDataset
    and test pipeline, AlignedFPN + HARRetinaHead at 1x and 2x merged plus
    0.75x combined, then Soft-NMS and box voting."""
    from mmengine.config import Config
    from mmdet.registry import DATASETS
    cfg = Config.fromfile(
        f'{repo_root}/configs/harnet/harnet_r18_tiny_synthetic_mstest.py')
    assert cfg.model.type == 'HARMultiScaleRetinaNet'
    cfg.model.test_cfg.score_thr = 0.0
    cfg.model.test_cfg.nms_pre = 50  # keeps the CPU soft-NMS small
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = synthetic_det_root + '/'
    # the generated images are 128 px; testing at 128/256/96 instead of
    # 256/512/192 keeps the CPU time down
    for transform in dataset_cfg.pipeline:
        if transform.type == 'Resize':
            transform.scale = (128, 128)
    dataset = DATASETS.build(dataset_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    data = pseudo_collate([dataset[0]])
    with torch.no_grad():
        results = model.test_step(data)
    for result in results:
        pred = result.pred_instances
        height, width = result.ori_shape
        assert 0 < len(pred) <= cfg.model.test_cfg.max_per_img
        assert pred.bboxes[:, 0::2].max() <= width + 1e-3
        assert pred.bboxes[:, 1::2].max() <= height + 1e-3


@pytest.mark.parametrize(
    'name',
    ['harnet_r50_fpn_1x_coco_mstest.py', 'harnet_r101_fpn_1x_coco_mstest.py'])
def test_paper_mstest_configs(repo_root, name):
    from mmengine.config import Config
    cfg = Config.fromfile(f'{repo_root}/configs/harnet/{name}')
    assert cfg.model.type == 'HARMultiScaleRetinaNet'
    assert cfg.model.test_cfg.multi_scale.scale_factors == [1.0, 2.0]
    # shorter sides 750 (pipeline), 1500 (x2, merged), 500 (x2/3, combined)
    resize = [t for t in cfg.test_pipeline if t.type == 'Resize'][0]
    assert min(resize.scale) == 750
    extra = cfg.model.test_cfg.multi_scale.extra_scale_factors
    assert [750 * f for f in extra] == pytest.approx([500])
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline


def test_multi_scale_needs_the_heads_decoding_contract():
    cfg = _tiny_retinanet('HARMultiScaleRetinaNet', head=dict(
        type='RetinaHead'), multi_scale=dict(scale_factors=[1.0, 2.0]))
    for key in ('spatial_attention', 'channel_attention', 'cross_level_norm',
                'extra_conv'):
        cfg.bbox_head.pop(key)
    with pytest.raises(ValueError, match='nms_candidates.*got RetinaHead'):
        MODELS.build(cfg)


def test_predict_by_feat_with_the_heads_own_priors_is_mmdets():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_retinanet('HARMultiScaleRetinaNet')).eval()
    head = model.bbox_head
    feats = [torch.randn(1, 16, 256 // s, 256 // s)
             for s in (8, 16, 32, 64, 128)]
    cls_scores, bbox_preds = head(feats)
    meta = dict(img_shape=(256, 256), scale_factor=(1.0, 1.0),
                pad_shape=(256, 256))
    priors = head.prior_generator.grid_priors(
        [c.shape[-2:] for c in cls_scores], device='cpu')
    given = head.predict_by_feat(cls_scores, bbox_preds,
                                 batch_img_metas=[meta], mlvl_priors=priors)
    own = head.predict_by_feat(cls_scores, bbox_preds,
                               batch_img_metas=[meta])
    assert len(own[0]) > 0
    assert torch.equal(given[0].bboxes, own[0].bboxes)
    assert torch.equal(given[0].scores, own[0].scores)
