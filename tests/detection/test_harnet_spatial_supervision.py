# Copyright (c) mmattn contributors. All rights reserved.
"""Box-wise objectness: targets, HARRetinaHead's spatial_attention_loss and
the inside-minus-outside mask contrast, against hand-worked cases."""
import math

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

import mmattn  # noqa: F401
from mmattn.detection.box_objectness import (box_objectness_targets,
                                             cells_in_boxes)

register_all_modules()


def test_cells_in_boxes_uses_cell_centres():
    # stride 4: centres at 2, 6, 10, 14. Box x 3..11, y 0..7 covers centres
    # x 6, 10 and y 2, 6.
    inside = cells_in_boxes(torch.tensor([[3.0, 0.0, 11.0, 7.0]]), 4, 4, 4.0,
                            4.0)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[0:2, 1:3] = True
    assert torch.equal(inside, expected)
    assert not cells_in_boxes(torch.zeros(0, 4), 4, 4, 4.0, 4.0).any()


def test_box_objectness_targets_mark_padding_invalid():
    targets, valids = box_objectness_targets(
        [torch.tensor([[0.0, 0.0, 8.0, 8.0]])], [(16, 12)], [(4, 4), (2, 2)],
        (16, 16))
    assert targets[0].shape == (1, 1, 4, 4)
    assert targets[0][0, 0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0],
                                         [0, 0, 0, 0], [0, 0, 0, 0]]
    # image 12 px wide: the last column (centre x 14) is padding
    assert valids[0][0, 0, :, 3].tolist() == [False] * 4
    assert valids[0][0, 0, :, :3].all()
    # level 2x2 (stride 8): centres 4, 12; the box covers the first cell
    assert targets[1][0, 0].tolist() == [[1, 0], [0, 0]]


def _head(**kwargs):
    cfg = dict(
        type='HARRetinaHead',
        num_classes=2,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        cross_level_norm=None,
        channel_attention=None,
        spatial_attention=dict(channels=4, dilations=(1, 1)),
        anchor_generator=dict(
            type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
            ratios=[1.0], strides=[8, 16]),
        train_cfg=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                          neg_iou_thr=0.4, min_pos_iou=0),
            sampler=dict(type='PseudoSampler'), allowed_border=-1,
            pos_weight=-1, debug=False))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_spatial_attention_loss_against_hand_computed_bce():
    head = _head(spatial_attention_loss=dict(loss_weight=2.0))
    masks = [torch.full((1, 1, 2, 2), 0.8), torch.full((1, 1, 1, 1), 0.3)]
    gt = InstanceData(bboxes=torch.tensor([[0.0, 0.0, 8.0, 8.0]]),
                      labels=torch.tensor([0]))
    meta = dict(img_shape=(16, 16), batch_input_shape=(16, 16))
    loss = head.spatial_attention_loss(masks, [gt], [meta])
    # level 0 (stride 8): 1 cell inside (-log .8), 3 outside (-log .2)
    level0 = (-math.log(0.8) + 3 * -math.log(0.2)) / 4
    # level 1 (stride 16): the one cell's centre (8, 8) is outside [0, 8)
    level1 = -math.log(0.7)
    assert loss.item() == pytest.approx(2.0 * (level0 + level1) / 2,
                                        rel=1e-5)


def test_loss_sa_is_logged_and_reaches_the_mask_branch():
    head = _head(spatial_attention_loss=dict(loss_weight=1.0))
    head.init_weights()
    feats = [torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)]
    samples = []
    for _ in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(64, 64),
                                        pad_shape=(64, 64),
                                        batch_input_shape=(64, 64),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4.0, 4.0, 30.0, 30.0]]),
            labels=torch.tensor([1]))
        samples.append(s)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_sa'}
    losses['loss_sa'].backward()
    assert head.spatial_attention.convs[0].conv.weight.grad.abs().sum() > 0
    # without the option the head's losses are RetinaHead's
    plain = _head()
    assert set(plain.loss(feats, samples)) == {'loss_cls', 'loss_bbox'}


@pytest.mark.parametrize('value', [dict(loss_weight=-1), dict(weight=1.0),
                                   dict(loss_weight=True)])
def test_bad_spatial_attention_loss(value):
    with pytest.raises(ValueError, match='spatial_attention_loss'):
        _head(spatial_attention_loss=value)
    with pytest.raises(ValueError, match='needs spatial_attention'):
        _head(spatial_attention=None,
              spatial_attention_loss=dict(loss_weight=1.0))


def test_spatial_mask_contrast_on_the_tiny_har_net(repo_root,
                                                   synthetic_det_root):
    """The real tiny config's detector, its real val loader: one dict per
    level, cells split by the head's target rule, stats consistent."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmattn.detection.evaluation import spatial_mask_contrast
    cfg = Config.fromfile(
        f'{repo_root}/configs/harnet/harnet_r18_tiny_synthetic.py')
    cfg.val_dataloader.dataset.data_root = synthetic_det_root + '/'
    cfg.val_dataloader.update(batch_size=2, num_workers=0,
                              persistent_workers=False)
    loader = Runner.build_dataloader(cfg.val_dataloader)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    stats = spatial_mask_contrast(model, loader, max_images=2)
    assert len(stats) == 5
    assert stats[0]['cells_inside'] > 0 and stats[0]['cells_outside'] > 0
    for level in stats:
        assert 0 < level['min'] <= level['max'] < 1
        assert level['contrast'] == pytest.approx(level['inside'] -
                                                  level['outside'])
    assert model.training
