# Copyright (c) mmattn contributors. All rights reserved.
"""SelectionLoss (SAL Eq. 8/9/13) and AttentionLoss (Eq. 12) against
hand-worked values."""
import math

import pytest
import torch
import torch.nn.functional as F

import mmattn  # noqa: F401  (registers the modules)
from mmattn.segmentation.losses import AttentionLoss, SelectionLoss
from mmattn.segmentation.losses import selection_loss as selection_loss_module
from mmseg.models.losses import CrossEntropyLoss
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS


@pytest.fixture(autouse=True)
def _mmseg_scope():
    # Registry builds follow the process-wide default scope, which an
    # earlier test (an mmdet model) may have left on 'mmdet'.
    init_default_scope('mmseg')

LOG2 = math.log(2.0)


def _two_images():
    """Two images of 1x2 pixels, two classes.

    image 0: pixel a logits [0, 0]      -> p = [1/2, 1/2], label 0,
                                           nll = log 2
             pixel b logits [log 3, 0]  -> p = [3/4, 1/4], label 1,
                                           nll = log 4
    image 1: pixel a logits [0, log 3]  -> p = [1/4, 3/4], label 1,
                                           nll = log(4/3)
             pixel b logits [5, -5]     -> label 255 (ignored)
    """
    pred = torch.tensor([
        [[[0.0, math.log(3.0)]], [[0.0, 0.0]]],
        [[[0.0, 5.0]], [[math.log(3.0), -5.0]]],
    ],
                        requires_grad=True)
    target = torch.tensor([[[0, 1]], [[1, 255]]])
    return pred, target


NLL_IMG0 = LOG2 + math.log(4.0)  # two valid pixels
NLL_IMG1 = math.log(4.0 / 3.0)  # one valid pixel


def test_selection_loss_hard_all_selected():
    pred, target = _two_images()
    loss_fn = SelectionLoss(score_key='SF', tau=0.55)
    scores = [dict(SF=0.9, SC=0.1), dict(SF=0.6, SC=0.9)]
    loss = loss_fn(pred, target, scores=scores)
    # w = [1, 1]: (log 2 + log 4 + log 4/3) / 3 valid pixels
    assert loss.item() == pytest.approx((NLL_IMG0 + NLL_IMG1) / 3, rel=1e-6)


def test_selection_loss_hard_mixed_weights_equal_ce_on_selected_image():
    pred, target = _two_images()
    loss_fn = SelectionLoss(score_key='SF', tau=0.7)
    loss = loss_fn(pred, target, scores=[dict(SF=0.9), dict(SF=0.6)])
    # w = [1, 0]: (log 2 + log 4) / 2 = 1.5 log 2, CE of image 0 alone
    assert loss.item() == pytest.approx(1.5 * LOG2, rel=1e-6)
    alone = F.cross_entropy(pred[:1], target[:1], ignore_index=255)
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)
    # mmseg's CE with a per-pixel weight would dilute: it divides by all
    # 4 pixels, (log 2 + log 4) / 4.
    pixel_weight = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])
    diluted = CrossEntropyLoss()(
        pred, target, weight=pixel_weight, ignore_index=255)
    assert diluted.item() == pytest.approx(3 * LOG2 / 4, rel=1e-6)


def test_selection_loss_score_key_and_threshold_edge():
    pred, target = _two_images()
    scores = [dict(SF=0.9, SC=0.1), dict(SF=0.6, SC=0.8)]
    # On SC with tau 0.8: w = [0, 1] (0.8 >= 0.8 is selected, Eq. 9)
    loss = SelectionLoss(score_key='SC', tau=0.8)(pred, target, scores=scores)
    assert loss.item() == pytest.approx(NLL_IMG1, rel=1e-6)


def test_selection_loss_soft_weighting_and_normalisers():
    pred, target = _two_images()
    scores = torch.tensor([0.9, 0.6])
    numerator = 0.9 * NLL_IMG0 + 0.6 * NLL_IMG1
    soft = SelectionLoss(weighting='soft')(pred, target, scores=scores)
    # selected_pixels: 3 valid pixels in images with w > 0
    assert soft.item() == pytest.approx(numerator / 3, rel=1e-6)
    weighted = SelectionLoss(
        weighting='soft', normalize='weighted_pixels')(
            pred, target, scores=scores)
    # weighted_pixels: 0.9 * 2 + 0.6 * 1 = 2.4
    assert weighted.item() == pytest.approx(numerator / 2.4, rel=1e-6)


def test_selection_loss_none_weighting_is_plain_ce():
    pred, target = _two_images()
    loss = SelectionLoss(weighting='none')(pred, target)
    ce = F.cross_entropy(pred, target, ignore_index=255)
    assert loss.item() == pytest.approx(ce.item(), rel=1e-6)


def test_selection_loss_all_zero_weights_zero_with_grad(monkeypatch):
    logged = []
    monkeypatch.setattr(selection_loss_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    pred, target = _two_images()
    loss_fn = SelectionLoss(tau=0.95)
    loss = loss_fn(pred, target, scores=torch.tensor([0.9, 0.6]))
    assert loss.item() == 0.0
    assert loss.grad_fn is not None
    loss.backward()
    assert pred.grad is not None
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    assert loss_fn.run_stats == dict(num_empty_batches=1)
    for _ in range(10):
        again = loss_fn(pred, target, scores=torch.tensor([0.1, 0.2]))
        assert not torch.isnan(again)
    # 11 empty batches, logged at the 1st and the 10th only
    assert loss_fn.run_stats == dict(num_empty_batches=11)
    assert len(logged) == 2
    assert '1 time(s)' in logged[0] and '10 time(s)' in logged[1]


def test_selection_loss_ignore_index():
    pred, target = _two_images()
    loss_fn = SelectionLoss(weighting='none')
    base = loss_fn(pred, target).item()
    # The ignored pixel's logits do not matter.
    changed = pred.detach().clone()
    changed[1, :, 0, 1] = torch.tensor([-7.0, 9.0])
    assert loss_fn(changed, target).item() == pytest.approx(base, rel=1e-6)
    # Another ignore value: now 255 is an (invalid) label unless ignored,
    # so ignore label 1 instead: valid = pixels labelled 0 -> log 2 only.
    target_1 = torch.tensor([[[0, 1]], [[1, 1]]])
    loss_1 = loss_fn(pred, target_1, ignore_index=1)
    assert loss_1.item() == pytest.approx(LOG2, rel=1e-6)
    # An image whose pixels are all ignored is not counted even if selected.
    all_ignored = torch.full_like(target, 255)
    zero = SelectionLoss(tau=0.0)(
        pred, all_ignored, scores=torch.tensor([1.0, 1.0]))
    assert zero.item() == 0.0 and zero.grad_fn is not None


def test_selection_loss_log_prob_input_is_not_renormalised():
    pred, target = _two_images()
    log_p = F.log_softmax(pred, dim=1) + math.log(0.5)
    loss = SelectionLoss(weighting='none')(
        log_p, target, pred_is_log_prob=True)
    # every valid pixel pays an extra -log 0.5 = log 2
    assert loss.item() == pytest.approx(
        (NLL_IMG0 + NLL_IMG1) / 3 + LOG2, rel=1e-6)


def test_selection_loss_scores_errors():
    pred, target = _two_images()
    with pytest.raises(KeyError, match='SF'):
        SelectionLoss()(pred, target, scores=[dict(SF=0.9), dict(SC=0.5)])
    with pytest.raises(ValueError, match='needs per-image mask scores'):
        SelectionLoss()(pred, target)
    with pytest.raises(ValueError, match='expected 2'):
        SelectionLoss()(pred, target, scores=torch.tensor([0.9]))


def _metainfo(scores):
    return [
        dict(img_path=f'img_{idx}.jpg', mask_scores=item)
        for idx, item in enumerate(scores)
    ]


@pytest.mark.parametrize('kwargs', [
    dict(tau=0.7),
    dict(tau=0.95),
    dict(weighting='soft'),
    dict(weighting='soft', normalize='weighted_pixels'),
    dict(score_key='SC', tau=0.8),
])
def test_loss_with_stats_is_forward_bit_for_bit(kwargs):
    pred, target = _two_images()
    scores = [dict(SF=0.9, SC=0.1), dict(SF=0.6, SC=0.8)]
    loss_fn = SelectionLoss(**kwargs)
    loss, stats = loss_fn.loss_with_stats(pred, target, _metainfo(scores))
    expected = loss_fn(pred, target, scores=scores)
    assert torch.equal(loss, expected)
    assert loss.grad_fn is not None
    weights = loss_fn.image_weights(scores, 2, pred.device)
    assert list(stats) == ['sel_frac']
    assert torch.equal(stats['sel_frac'], (weights > 0).float().mean())
    assert not stats['sel_frac'].requires_grad


def test_loss_with_stats_hand_values_and_log_prob_input():
    pred, target = _two_images()
    scores = [dict(SF=0.9), dict(SF=0.6)]
    loss, stats = SelectionLoss(tau=0.7).loss_with_stats(
        pred, target, _metainfo(scores))
    # w = [1, 0]: CE of image 0 alone, half of the batch kept
    assert loss.item() == pytest.approx(1.5 * LOG2, rel=1e-6)
    assert stats['sel_frac'].item() == 0.5
    log_p = F.log_softmax(pred, dim=1) + math.log(0.5)
    loss, _ = SelectionLoss(tau=0.7).loss_with_stats(
        log_p, target, _metainfo(scores), pred_is_log_prob=True)
    assert loss.item() == pytest.approx(1.5 * LOG2 + LOG2, rel=1e-6)


def test_loss_with_stats_without_weighting_reads_no_scores():
    pred, target = _two_images()
    loss_fn = SelectionLoss(weighting='none')
    # no mask_scores at all: nothing to read, nothing to report
    loss, stats = loss_fn.loss_with_stats(pred, target, [{}, {}])
    assert torch.equal(loss, loss_fn(pred, target))
    assert stats == {}


def test_loss_with_stats_names_the_image():
    pred, target = _two_images()
    with pytest.raises(KeyError, match='img_1.jpg.*mask_scores'):
        SelectionLoss().loss_with_stats(pred, target, [
            dict(img_path='img_0.jpg', mask_scores=dict(SF=0.9)),
            dict(img_path='img_1.jpg')
        ])
    with pytest.raises(KeyError, match="img_1.jpg has no 'SF' score"):
        SelectionLoss().loss_with_stats(
            pred, target, _metainfo([dict(SF=0.9), dict(SC=0.5)]))
    with pytest.raises(KeyError, match='<batch image 0>'):
        SelectionLoss().loss_with_stats(pred, target, [{}, {}])


def test_run_stats_count_empty_batches_of_loss_with_stats():
    pred, target = _two_images()
    loss_fn = SelectionLoss(tau=0.95)
    assert loss_fn.run_stats == dict(num_empty_batches=0)
    loss, stats = loss_fn.loss_with_stats(
        pred, target, _metainfo([dict(SF=0.9), dict(SF=0.6)]))
    assert loss.item() == 0.0 and stats['sel_frac'].item() == 0.0
    assert loss_fn.run_stats == dict(num_empty_batches=1)


@pytest.mark.parametrize('kwargs, message', [
    (dict(tau=1.5), 'tau must be a number in \\[0, 1\\], got 1.5'),
    (dict(score_key='XX'), "got 'XX'"),
    (dict(weighting='median'), "got 'median'"),
    (dict(normalize='all'), "got 'all'"),
    (dict(loss_name='sel'), "got 'sel'"),
])
def test_selection_loss_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(type='SelectionLoss', **kwargs))


def test_attention_loss_bce_hand_value():
    logits = torch.tensor([[0.0, math.log(3.0)]])
    tags = torch.tensor([[1.0, 0.0]])
    # d = [1/2, 3/4]: BCE = mean(-log 1/2, -log(1 - 3/4)) = 1.5 log 2,
    # times lambda = 2
    loss = AttentionLoss()(logits, tags)
    assert loss.item() == pytest.approx(3 * LOG2, rel=1e-6)


def test_attention_loss_paper_hand_value():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    tags = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # image 0: -log 1/2 = log 2 (class 1 absent: no term)
    # image 1: -log 3/4 - log 1/2 = log 4/3 + log 2
    # mean over images, times lambda = 1
    expected = (LOG2 + math.log(4 / 3) + LOG2) / 2
    loss = AttentionLoss(mode='paper', loss_weight=1.0)(logits, tags)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_attention_loss_paper_numerics_and_absent_classes():
    logits = torch.tensor([[-100.0, 3.0]], requires_grad=True)
    tags = torch.tensor([[1.0, 0.0]])
    loss = AttentionLoss(mode='paper', loss_weight=1.0)(logits, tags)
    # -log sigmoid(-100) = softplus(100) = 100 (no clamp at log(eps))
    assert loss.item() == pytest.approx(100.0, rel=1e-6)
    loss.backward()
    # d/dx -log sigmoid(x) = sigmoid(x) - 1 = -1 here: still learning;
    # the absent class gets no gradient from Eq. 12.
    assert logits.grad[0, 0].item() == pytest.approx(-1.0, abs=1e-6)
    assert logits.grad[0, 1].item() == 0.0


def test_attention_loss_bad_config():
    with pytest.raises(ValueError, match="got 'softmax'"):
        MODELS.build(dict(type='AttentionLoss', mode='softmax'))
    with pytest.raises(ValueError, match='got -1'):
        AttentionLoss(loss_weight=-1)
    with pytest.raises(ValueError, match='same shape'):
        AttentionLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
