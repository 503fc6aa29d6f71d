# Copyright (c) mmattn contributors. All rights reserved.
"""MaskScoringNet (SAL Table I, Eq. 6) and its data preprocessor."""
import os.path as osp

import pytest
import torch
from mmengine.structures import BaseDataElement
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import nn

import mmattn  # noqa: F401
from mmattn.blocks import GDN
from mmattn.segmentation.mask_scoring import (AvgMaxPool2d, MaskScoringNet,
                                              MaskScoringResBlock)


@pytest.fixture(autouse=True)
def _mmseg_scope():
    # Other test files build detectors in this process, which leaves
    # mmdet the default scope; these tests build from mmseg's registry.
    init_default_scope('mmseg')


TINY = dict(type='MaskScoringNet', stem_channels=8, channels=12,
            fc_channels=6)


def test_table1_layers():
    net = MaskScoringNet()  # paper widths; no forward at this size here
    convs = [m for m in net.layers if isinstance(m, nn.Sequential)]
    blocks = [m for m in net.layers if isinstance(m, MaskScoringResBlock)]
    # layers 1, 3, 5, 7 are 3x3 convs with strides 1, 2, 2, 2
    assert [c[0].stride[0] for c in convs] == [1, 2, 2, 2]
    assert [tuple(c[0].weight.shape) for c in convs] == [
        (128, 4, 3, 3), (192, 192, 3, 3), (192, 192, 3, 3), (192, 192, 3, 3)
    ]
    assert all(isinstance(c[1], nn.ReLU) for c in convs)
    # layers 2, 4, 6: ResB 128->192, 192->192, 192->192, GDN output
    assert [b.conv1.in_channels for b in blocks] == [128, 192, 192]
    assert all(isinstance(b.act, GDN) for b in blocks)
    assert isinstance(blocks[0].shortcut, nn.Conv2d)  # width change
    assert isinstance(blocks[1].shortcut, nn.Identity)
    # layers 8, 9: fc 192x128 + GDN, fc 128x1 (+ ReLU in extract_score)
    assert tuple(net.fc1.weight.shape) == (128, 192)
    assert isinstance(net.fc1_act, GDN) and net.fc1_act.channels == 128
    assert tuple(net.fc2.weight.shape) == (1, 128)
    # ReLU output starts alive: the last bias is 0.5, also after init
    net.init_weights()
    assert float(net.fc2.bias.detach()) == pytest.approx(0.5)


@pytest.mark.parametrize('size', [(432, 432), (64, 96), (33, 17)])
def test_output_shape_any_size(size):
    net = MODELS.build(TINY)
    out = net(torch.randn(2, 4, *size), mode='tensor')
    assert out.shape == (2, )
    assert (out >= 0).all()  # ReLU output (Table I)


def test_loss_is_eq6_and_backward():
    torch.manual_seed(0)
    net = MODELS.build(TINY)
    x = torch.randn(3, 4, 32, 32)
    targets = [0.2, 0.9, 0.5]
    samples = [BaseDataElement(gt_score=torch.tensor(t)) for t in targets]
    pred = net(x, mode='tensor')
    loss = net(x, samples, mode='loss')['loss_l2']
    # Eq. 6: (P_i - AC_i)^2, averaged over the batch
    expected = ((pred - torch.tensor(targets))**2).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert net.layers[0][0].weight.grad.abs().sum() > 0
    assert net.fc1_act.beta_param.grad is not None
    with pytest.raises(KeyError, match='gt_score'):
        net(x, [BaseDataElement()] * 3, mode='loss')


def test_predict_clips_to_unit_interval():
    net = MODELS.build(TINY)
    with torch.no_grad():
        net.fc2.bias.fill_(5.0)  # raw output well above 1
    out = net(torch.randn(2, 4, 16, 16), mode='predict')
    assert [float(s.pred_score) for s in out] == [1.0, 1.0]
    assert float(net(torch.randn(1, 4, 16, 16), mode='tensor')) > 1
    with pytest.raises(ValueError, match='mode'):
        net(torch.randn(1, 4, 16, 16), mode='bad')
    with pytest.raises(ValueError, match='image \\+ mask'):
        net(torch.randn(1, 3, 16, 16), mode='tensor')


def test_bad_config_values():
    with pytest.raises(ValueError, match='output_activation'):
        MODELS.build(dict(TINY, output_activation='tanh'))
    with pytest.raises(ValueError, match='channels'):
        MODELS.build(dict(TINY, channels=0))
    with pytest.raises(ValueError, match='pool'):
        MODELS.build(dict(TINY, pool='median'))


def test_avgmax_pooling_concatenates_mean_then_max():
    # channel 0: values 0..3 (mean 1.5, max 3); channel 1: one spike of 8
    # on zeros (mean 2, max 8): avg and max disagree on which is larger.
    x = torch.tensor([[[[0., 1.], [2., 3.]], [[0., 0.], [0., 8.]]]])
    out = AvgMaxPool2d()(x)
    assert out.shape == (1, 4, 1, 1)
    assert out.flatten().tolist() == [1.5, 2.0, 3.0, 8.0]
    net = MODELS.build(dict(TINY, pool='avgmax'))
    # fc 8 reads both halves: 2 x channels inputs
    assert tuple(net.fc1.weight.shape) == (6, 24)
    assert net(torch.randn(3, 4, 20, 20), mode='tensor').shape == (3, )
    # the gradient reaches every position through the mean, not only the
    # argmax as with max pooling alone
    x = torch.randn(2, 12, 5, 5, requires_grad=True)
    AvgMaxPool2d()(x).sum().backward()
    assert (x.grad > 0).all()


def test_sigmoid_output_variant():
    net = MODELS.build(dict(TINY, output_activation='sigmoid'))
    out = net(torch.randn(4, 4, 16, 16), mode='tensor')
    assert ((out > 0) & (out < 1)).all()


def test_data_preprocessor_four_channels():
    pre = MODELS.build(
        dict(type='MaskScoringDataPreprocessor', mean=[10, 20, 30],
             std=[2, 4, 5], bgr_to_rgb=True))
    img = torch.zeros(4, 2, 2, dtype=torch.uint8)
    img[0], img[1], img[2] = 30, 20, 10  # B, G, R
    img[3, 0, 0] = 1
    out = pre(dict(inputs=[img], data_samples=None))['inputs']
    assert out.shape == (1, 4, 2, 2)
    # BGR -> RGB: channel 0 is R=10 -> (10 - 10) / 2 = 0; G: 0; B: 0
    assert torch.count_nonzero(out[0, :3]) == 0
    # mask {0, 1} -> {-1, 1}
    assert out[0, 3].tolist() == [[1.0, -1.0], [-1.0, -1.0]]
    with pytest.raises(ValueError, match='one size'):
        pre(dict(inputs=[img, torch.zeros(4, 3, 3, dtype=torch.uint8)]))
    with pytest.raises(ValueError, match='3 values'):
        MODELS.build(dict(type='MaskScoringDataPreprocessor', mean=[0] * 4,
                          std=[1] * 4))


def test_metric_hand_worked():
    import math

    from mmattn.segmentation.mask_scoring import (MaskScoreMetric,
                                                  pearson_correlation,
                                                  spearman_correlation)

    # y = 2x: r = 1; y = x^3 is monotone: rho = 1 but r < 1
    assert pearson_correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman_correlation([1, 2, 3, 4], [1, 8, 27, 64]) == 1.0
    assert pearson_correlation([1, 2, 3, 4], [1, 8, 27, 64]) < 0.99
    # x = (0, 1, 2), y = (0, 2, 1): dx = (-1, 0, 1), dy = (-1, 1, 0)
    # r = (1 + 0 + 0) / sqrt(2 * 2) = 0.5
    assert pearson_correlation([0, 1, 2], [0, 2, 1]) == pytest.approx(0.5)
    assert math.isnan(pearson_correlation([1, 1, 1], [1, 2, 3]))
    metric = MaskScoreMetric()
    metric.process({}, [
        dict(pred_score=torch.tensor(p), gt_score=torch.tensor(t))
        for p, t in [(0.1, 0.0), (0.5, 0.6), (0.9, 0.8)]
    ])
    out = metric.compute_metrics(metric.results)
    # |errors| = .1, .1, .1 -> MAE .1; same order -> spearman 1
    assert out['mae'] == pytest.approx(0.1)
    assert out['spearman'] == pytest.approx(1.0)


@pytest.mark.parametrize('name, size, lr, batch, epochs, widths', [
    ('mask-scorer_1xb8-50e_voc12aug-432x432.py', (432, 432), 1e-5, 8, 50,
     (128, 192, 128)),
    ('mask-scorer-tiny_1xb16-20e_synthetic-48x48.py', (48, 48), 1e-3, 16,
     20, (16, 32, 32)),
])
def test_configs_hold_the_paper_settings(name, size, lr, batch, epochs,
                                         widths):
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(root, 'configs', 'mask_scoring', name))
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.train_cfg.max_epochs == epochs
    resize = [t for t in cfg.train_dataloader.dataset.pipeline
              if t['type'] == 'Resize'][0]
    assert tuple(resize['scale']) == size
    model = MODELS.build(cfg.model)
    assert (model.layers[0][0].out_channels, model.fc1.in_features,
            model.fc1.out_features) == widths
    assert cfg.val_evaluator.type == 'MaskScoreMetric'


def test_benchmark_config_schedule_and_pooling():
    """The benchmark's longer tiny schedule: 48x48, max pooling, batch 8,
    30 epochs with a cosine decay that ends with the training."""
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'mask_scoring',
                 'mask-scorer-tiny_1xb8-30e_synthetic-48x48.py'))
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_cfg.max_epochs == 30
    (sched, ) = cfg.param_scheduler
    assert sched.type == 'CosineAnnealingLR'
    assert sched.T_max == sched.end == 30
    assert sched.eta_min < cfg.optim_wrapper.optimizer.lr
    assert cfg.default_hooks.checkpoint.save_best == 'mask_score/pearson'
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        resize = [t for t in loader.dataset.pipeline
                  if t['type'] == 'Resize'][0]
        assert tuple(resize['scale']) == (48, 48)
    model = MODELS.build(cfg.model)
    assert isinstance(model.pool, torch.nn.AdaptiveMaxPool2d)
    assert (model.layers[0][0].out_channels, model.fc1.in_features,
            model.fc1.out_features) == (16, 32, 32)
    assert model(torch.randn(2, 4, 48, 48), mode='tensor').shape == (2, )


def test_avgmax_benchmark_config():
    """The 3rd benchmark run's scorer: the 30-epoch config with avg + max
    pooling and a 12-epoch cosine schedule that ends with the training."""
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'mask_scoring',
                 'mask-scorer-tiny-avgmax_1xb8-12e_synthetic-48x48.py'))
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_cfg.max_epochs == 12
    (sched, ) = cfg.param_scheduler
    assert sched.T_max == sched.end == 12
    assert cfg.default_hooks.checkpoint.save_best == 'mask_score/pearson'
    model = MODELS.build(cfg.model)
    assert isinstance(model.pool, AvgMaxPool2d)
    assert (model.layers[0][0].out_channels, model.fc1.in_features,
            model.fc1.out_features) == (16, 64, 32)
    assert model(torch.randn(2, 4, 48, 48), mode='tensor').shape == (2, )


def test_mask_scorer_refuses_a_checkpoint_of_another_config(tmp_path):
    """The Python API behind tools/score_masks.py: a scorer whose config does
    not fit its checkpoint would score every mask about 0.5."""
    from mmengine.runner import save_checkpoint

    from mmattn.segmentation.mask_scoring.scoring import MaskScorer
    from mmattn.utils import CheckpointMismatchError
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    tiny = osp.join(root, 'configs', 'mask_scoring',
                    'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py')
    full = osp.join(root, 'configs', 'mask_scoring',
                    'mask-scorer_1xb8-50e_voc12aug-432x432.py')
    scorer = MaskScorer(tiny)
    path = str(tmp_path / 'tiny.pth')
    save_checkpoint({'state_dict': scorer.model.state_dict()}, path)
    MaskScorer(tiny, checkpoint=path)  # fits
    with pytest.raises(CheckpointMismatchError, match='shape mismatch'):
        MaskScorer(full, checkpoint=path)
