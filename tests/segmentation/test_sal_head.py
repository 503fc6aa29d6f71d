# Copyright (c) mmattn contributors. All rights reserved.
"""SALHead: branches, Eq. 10/11 on hand-made values, losses and where
their gradients go."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData

import mmattn  # noqa: F401  (registers the modules)
import mmattn.segmentation.backbones  # noqa: F401  (DeepLabVGG)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

IN_CHANNELS = 8
NUM_CLASSES = 3  # background + 2 foreground classes


def _head(**kwargs):
    cfg = dict(
        type='SALHead',
        in_channels=IN_CHANNELS,
        channels=8,
        num_classes=NUM_CLASSES,
        dropout_ratio=0.0,
        cls_branch=dict(channels=4, dilations=(1, 3), dropout_ratio=0.0))
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _samples(labels, scores=None, tags=None):
    samples = []
    for idx, label in enumerate(labels):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None].long())
        meta = dict(
            img_path=f'img_{idx}.jpg',
            img_shape=tuple(label.shape),
            pad_shape=tuple(label.shape))
        if scores is not None:
            meta['mask_scores'] = scores[idx]
        if tags is not None:
            meta['img_tags'] = tags[idx]
        sample.set_metainfo(meta)
        samples.append(sample)
    return samples


def _feats(n=2, size=6, requires_grad=False):
    torch.manual_seed(0)
    x = torch.randn(n, IN_CHANNELS, size, size, requires_grad=requires_grad)
    return [x]


def test_forward_shapes_and_predict_for_every_seg_branch():
    for seg_branch, expected_part in [('aspp', 'image_pool'),
                                      ('aspp_l', 'conv_seg.branches.3'),
                                      ('largefov', 'conv_seg.branches.0')]:
        head = _head(seg_branch=seg_branch, v2_num_hidden_convs=2)
        names = [name for name, _ in head.named_parameters()]
        assert any(name.startswith(expected_part) for name in names)
        if seg_branch != 'aspp':
            # no unused DeepLabV3 parts in the DeepLab-v2 variants
            assert not any(
                name.startswith(('image_pool', 'bottleneck', 'aspp_modules'))
                for name in names)
        head.eval()
        feats = _feats()
        out = head(feats)
        assert out.shape == (2, NUM_CLASSES, 6, 6)
        pred = head.predict(
            feats, [dict(img_shape=(12, 12), pad_shape=(12, 12))] * 2,
            test_cfg=dict())
        assert pred.shape == (2, NUM_CLASSES, 12, 12)


def test_aspp_l_sums_branch_logits():
    head = _head(
        seg_branch='aspp_l',
        cls_branch=None,
        attention_guided=False,
        loss_attention=None)
    head.eval()
    x = _feats()[0]
    branches = head.conv_seg.branches
    assert [b[-1].dilation[0] for b in branches] == [6, 12, 18, 24]
    expected = sum(branch(x) for branch in branches)
    assert torch.allclose(head([x]), expected, atol=1e-6)


class _Constant(nn.Module):

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full((x.shape[0], 2, x.shape[2], x.shape[3]), self.value)


@pytest.mark.parametrize(
    'fusion, expected',
    [
        ('sum', 1 + 2 + 3 + 4),  # Eq. 10
        ('first_plus_mean', 1 + (2 + 3 + 4) / 3),  # authors' code
    ])
def test_classification_branch_fusion(fusion, expected):
    branch = MODELS.build(
        dict(
            type='SALClassificationBranch',
            in_channels=IN_CHANNELS,
            num_classes=2,
            fusion=fusion))
    assert branch.dilations == (1, 3, 6, 9)
    branch.branches = nn.ModuleList(_Constant(v) for v in (1., 2., 3., 4.))
    logits = branch(_feats()[0])
    assert logits.shape == (2, 2)
    assert torch.allclose(logits, torch.full((2, 2), float(expected)))


def test_attention_log_probs_background_factor_one():
    head = _head()
    seg_logits = torch.tensor([0.0, math.log(2.0),
                               math.log(5.0)]).view(1, 3, 1, 1)
    cls_logits = torch.tensor([[0.0, math.log(3.0)]])
    # Z = [1/8, 2/8, 5/8]; d_s = sigmoid([0, log 3]) = [1/2, 3/4]
    # Z_hat = [1/8 * 1, 2/8 * 1/2, 5/8 * 3/4] = [1/8, 1/8, 15/32]
    z_hat = head.attention_log_probs(seg_logits, cls_logits).exp().view(-1)
    assert torch.allclose(z_hat, torch.tensor([1 / 8, 1 / 8, 15 / 32]))
    head.attention_normalize = True
    z_norm = head.attention_log_probs(seg_logits, cls_logits).exp().view(-1)
    total = 1 / 8 + 1 / 8 + 15 / 32
    assert torch.allclose(z_norm,
                          torch.tensor([1 / 8, 1 / 8, 15 / 32]) / total)


def test_loss_by_feat_selection_with_attention_hand_value():
    head = _head(loss_decode=dict(type='SelectionLoss', tau=0.5))
    seg_logits = torch.zeros(2, 3, 1, 2)  # Z = 1/3 everywhere
    cls_logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    labels = torch.tensor([[[0, 2]], [[1, 1]]])
    samples = _samples(
        labels,
        scores=[dict(SF=0.9), dict(SF=0.2)],
        tags=[torch.tensor([0.0, 1.0]),
              torch.tensor([1.0, 0.0])])
    losses = head.loss_by_feat((seg_logits, cls_logits), samples)
    # image 1 is not selected (0.2 < 0.5). image 0:
    #   pixel label 0: -log(1/3)
    #   pixel label 2: -log(1/3 * 3/4)
    expected_sel = (math.log(3) + math.log(3) + math.log(4 / 3)) / 2
    assert losses['loss_sel'].item() == pytest.approx(expected_sel, rel=1e-6)
    # BCE over 2 images x 2 classes:
    #   img 0: logits [0, log 3], tags [0, 1]: -log(1/2) - log(3/4)
    #   img 1: logits [0, 0],     tags [1, 0]: -log(1/2) - log(1/2)
    bce = (3 * math.log(2) + math.log(4 / 3)) / 4
    assert losses['loss_att'].item() == pytest.approx(2 * bce, rel=1e-6)
    assert 'acc_seg' in losses
    # One of the two images passes tau: logged, not a loss term.
    assert losses['sel_frac'].item() == 0.5
    assert not losses['sel_frac'].requires_grad


@pytest.mark.parametrize('attention_guided', [True, False])
def test_head_selection_loss_and_sel_frac_are_the_loss_own_numbers(
        attention_guided):
    # The head hands the loss log Z_hat (or the logits) and the metainfo;
    # what it logs is bit for bit what the loss computes from them.
    head = _head(
        attention_guided=attention_guided,
        loss_decode=[
            dict(type='SelectionLoss', tau=0.5),
            dict(
                type='SelectionLoss',
                score_key='SC',
                tau=0.5,
                loss_name='loss_sel2')
        ])
    torch.manual_seed(3)
    seg_logits, cls_logits = torch.randn(3, 3, 4, 4), torch.randn(3, 2)
    labels = torch.randint(0, 3, (3, 4, 4))
    scores = [dict(SF=0.9, SC=0.1), dict(SF=0.2, SC=0.7), dict(SF=0.4, SC=0.8)]
    samples = _samples(labels, scores=scores, tags=[torch.ones(2)] * 3)
    losses = head.loss_by_feat((seg_logits, cls_logits), samples)
    pred = (
        head.attention_log_probs(seg_logits, cls_logits)
        if attention_guided else seg_logits)
    for loss_fn in head.loss_decode:
        expected = loss_fn(
            pred,
            labels,
            scores=scores,
            ignore_index=head.ignore_index,
            pred_is_log_prob=attention_guided)
        assert torch.equal(losses[loss_fn.loss_name], expected)
    # sel_frac is the first weighted loss's: SF >= 0.5 keeps 1 of 3 (the
    # second loss, on SC, would say 2 of 3).
    assert list(losses) == [
        'loss_sel', 'sel_frac', 'loss_sel2', 'loss_att', 'acc_seg'
    ]
    assert torch.equal(losses['sel_frac'], torch.tensor(1 / 3))


def test_no_sel_frac_without_score_weighting():
    head = _head(loss_decode=dict(type='SelectionLoss', weighting='none'))
    labels = torch.randint(0, 3, (2, 1, 2))
    samples = _samples(
        labels,
        scores=[dict(SF=0.9), dict(SF=0.2)],
        tags=[torch.ones(2), torch.ones(2)])
    losses = head.loss_by_feat((torch.zeros(2, 3, 1, 2), torch.zeros(2, 2)),
                               samples)
    assert 'sel_frac' not in losses


def test_loss_without_attention_is_plain_selection_on_logits():
    head = _head(attention_guided=False)
    seg_logits = torch.randn(2, 3, 4, 4)
    cls_logits = torch.randn(2, 2)
    labels = torch.randint(0, 3, (2, 4, 4))
    samples = _samples(
        labels,
        scores=[dict(SF=0.9), dict(SF=0.9)],
        tags=[torch.ones(2), torch.ones(2)])
    losses = head.loss_by_feat((seg_logits, cls_logits), samples)
    ce = F.cross_entropy(seg_logits, labels)
    assert losses['loss_sel'].item() == pytest.approx(ce.item(), rel=1e-5)


def _grads(module):
    return [
        p.grad for p in module.parameters()
        if p.grad is not None and p.grad.abs().sum() > 0
    ]


def _run_loss(head, requires_grad=False):
    feats = _feats(requires_grad=requires_grad)
    labels = torch.randint(0, 3, (2, 6, 6))
    samples = _samples(
        labels,
        scores=[dict(SF=0.9), dict(SF=0.8)],
        tags=[torch.tensor([1.0, 0.0]),
              torch.tensor([0.0, 1.0])])
    losses = head.loss(feats, samples, train_cfg=dict())
    total = sum(v for k, v in losses.items() if k.startswith('loss_'))
    total.backward()
    return feats[0], losses


def test_attention_loss_gradient_reaches_cls_branch_and_features_only():
    head = _head(
        loss_decode=dict(type='SelectionLoss', tau=0.5, loss_weight=0.0))
    feats, _ = _run_loss(head, requires_grad=True)
    assert len(_grads(head.cls_branch)) == len(
        list(head.cls_branch.parameters()))
    # Eq. 12 depends on d_s only: no gradient into the segmentation branch
    for part in (head.conv_seg, head.bottleneck, head.aspp_modules):
        assert _grads(part) == []
    # ... but it does reach the shared backbone feature
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_selection_loss_reaches_cls_branch_through_z_hat():
    head = _head(loss_attention=None)
    _run_loss(head)
    assert _grads(head.conv_seg) and _grads(head.bottleneck)
    # through Z_hat = Z * d_s (Eq. 11/13) the classification branch learns
    # from the proxy masks too
    assert _grads(head.cls_branch)

    # without Eq. 11 the selection loss never reaches it (the attention
    # loss is kept at weight 0 so that the branch is still in the graph)
    head = _head(
        attention_guided=False,
        loss_attention=dict(type='AttentionLoss', loss_weight=0.0))
    _run_loss(head)
    assert _grads(head.conv_seg)
    assert _grads(head.cls_branch) == []


def test_missing_metainfo_names_the_image():
    head = _head()
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(KeyError, match='img_0.jpg.*mask_scores'):
        head.loss_by_feat((torch.zeros(1, 3, 4, 4), torch.zeros(1, 2)),
                          _samples(labels, tags=[torch.ones(2)]))
    with pytest.raises(KeyError, match='img_0.jpg.*img_tags'):
        head.loss_by_feat((torch.zeros(1, 3, 4, 4), torch.zeros(1, 2)),
                          _samples(labels, scores=[dict(SF=1.0)]))
    with pytest.raises(ValueError, match='img_0.jpg has 3 tags'):
        head.loss_by_feat(
            (torch.zeros(1, 3, 4, 4), torch.zeros(1, 2)),
            _samples(labels, scores=[dict(SF=1.0)], tags=[torch.ones(3)]))


def test_test_with_attention_returns_log_z_hat():
    head = _head(test_with_attention=True)
    head.eval()
    feats = _feats()
    seg_logits, cls_logits = head.forward_train(feats)
    expected = head.attention_log_probs(seg_logits, cls_logits)
    assert torch.allclose(head(feats), expected)


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(seg_branch='pspnet'), ValueError, "got 'pspnet'"),
    (dict(dilations=[]), ValueError, 'got \\[\\]'),
    (dict(cls_branch=None), ValueError, 'cls_branch is None'),
    (dict(cls_branch=None,
          attention_guided=False), ValueError, 'loss_attention needs'),
    (dict(attention_guided=False, loss_attention=None), ValueError,
     'neither attention_guided nor loss_attention'),
    (dict(cls_branch=dict(fusion='max')), ValueError, "got 'max'"),
    (dict(cls_branch=dict(dilations=(1, 0))), ValueError, 'got \\(1, 0\\)'),
    (dict(num_classes=1), ValueError, 'num_classes must be an int >= 2'),
    (dict(sampler=dict(type='OHEMPixelSampler')), ValueError, 'sampler'),
])
def test_bad_config_raises_at_build(kwargs, error, message):
    with pytest.raises(error, match=message):
        _head(**kwargs)


def test_deeplab_vgg_output_stride_8():
    backbone = MODELS.build(dict(type='DeepLabVGG', depth=16))
    backbone.init_weights()
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert len(outs) == 1
    # 3x3/2 ceil-mode pools: 64 -> 33 -> 17 -> 9, then stride 1
    assert outs[0].shape == (1, 512, 9, 9)
    convs = [m for m in backbone.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert all(c.dilation == (2, 2) for c in convs[-3:])
    with pytest.raises(ValueError, match='got 17'):
        MODELS.build(dict(type='DeepLabVGG', depth=17))
