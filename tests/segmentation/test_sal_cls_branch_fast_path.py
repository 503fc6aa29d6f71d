# Copyright (c) mmattn contributors. All rights reserved.
"""SALClassificationBranch's fast forward (pooled last conv, dropped
channels skipped) equals the literal module path: same logits, same
gradients, same dropout masks under the same seed."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope

import mmattn  # noqa: F401
from mmattn.segmentation.decode_heads.classification_branch_fast import (
    is_plain_branch, pooled_branch_logits, pooled_conv3x3)
from mmseg.registry import MODELS


@pytest.fixture(autouse=True)
def _mmseg_scope():
    # A detector built earlier in this process leaves mmdet the default
    # scope; the branch is built from mmseg's registry.
    init_default_scope('mmseg')


def _branch(**kwargs):
    cfg = dict(
        type='SALClassificationBranch',
        in_channels=6,
        num_classes=3,
        channels=5)
    cfg.update(kwargs)
    branch = MODELS.build(cfg)
    torch.manual_seed(0)
    # Larger weights than the N(0, 0.01) init, so that a wrong border
    # term or a wrong mask would show well above float rounding.
    for param in branch.parameters():
        nn.init.normal_(param, std=0.5)
    return branch


def _logits_and_grads(branch, x, fast, seed=7):
    branch.fast_forward = fast
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)
    out = branch(x)
    # A non-uniform loss, so every output gets its own gradient.
    loss = (out * torch.arange(1.0, out.numel() + 1).view_as(out)).sum()
    grads = torch.autograd.grad(loss, [x] + list(branch.parameters()))
    return out.detach(), grads


@pytest.mark.parametrize('height, width', [(1, 1), (2, 3), (5, 4)])
def test_pooled_conv3x3_equals_conv_then_mean(height, width):
    torch.manual_seed(1)
    hidden = torch.randn(2, 4, height, width)
    weight = torch.randn(3, 4, 3, 3)
    bias = torch.randn(3)
    expected = F.conv2d(hidden, weight, bias, padding=1).mean(dim=(2, 3))
    got = pooled_conv3x3(hidden, weight, bias)
    assert torch.allclose(got, expected, atol=1e-5)


def test_pooled_conv3x3_hand_case():
    # 2x2 map of ones, one channel, kernel with a single 1 at offset
    # (u, v) = (0, 0): it reads row i-1, col j-1, so only output pixel
    # (1, 1) sees a valid input: sum 1, mean 1/4. The centre tap sees all
    # four pixels: mean 1.
    hidden = torch.ones(1, 1, 2, 2)
    corner = torch.zeros(1, 1, 3, 3)
    corner[0, 0, 0, 0] = 1.0
    centre = torch.zeros(1, 1, 3, 3)
    centre[0, 0, 1, 1] = 1.0
    assert pooled_conv3x3(hidden, corner, None).item() == 0.25
    assert pooled_conv3x3(hidden, centre, None).item() == 1.0


@pytest.mark.parametrize('fusion, with_fc, dropout_ratio',
                         [('sum', False, 0.5), ('first_plus_mean', True, 0.3),
                          ('sum', False, 0.0), ('sum', True, 0.9)])
@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_fast_forward_equals_literal_path(fusion, with_fc, dropout_ratio,
                                          mode):
    branch = _branch(
        fusion=fusion, with_fc=with_fc, dropout_ratio=dropout_ratio)
    getattr(branch, mode)()
    x = torch.randn(4, 6, 7, 5)
    fast_out, fast_grads = _logits_and_grads(branch, x, fast=True)
    ref_out, ref_grads = _logits_and_grads(branch, x, fast=False)
    assert fast_out.shape == (4, 3)
    assert torch.allclose(fast_out, ref_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(fast_grads, ref_grads):
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    if mode == 'train' and dropout_ratio > 0:
        # Dropout is live: another seed draws other masks, other logits.
        other_out, _ = _logits_and_grads(branch, x, fast=True, seed=8)
        assert not torch.allclose(other_out, fast_out, atol=1e-3)


def test_dropout_skip_handles_an_image_with_every_channel_dropped():
    branch = _branch(dropout_ratio=0.9, channels=2).train()
    x = torch.randn(6, 6, 4, 4)
    # Find a seed whose masks drop both channels of some image in some
    # branch (the path that returns the bias alone).
    for seed in range(50):
        torch.manual_seed(seed)
        masks = [
            torch.empty(6, 2, 1, 1).bernoulli_(0.1)
            for _ in branch.branches
        ]
        if any((m.sum(dim=(1, 2, 3)) == 0).any() for m in masks):
            break
    else:
        pytest.fail('no seed drops a whole image')
    fast_out, fast_grads = _logits_and_grads(branch, x, True, seed=seed)
    ref_out, ref_grads = _logits_and_grads(branch, x, False, seed=seed)
    assert torch.allclose(fast_out, ref_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(fast_grads, ref_grads):
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_fast_forward_with_a_norm_layer_equals_literal_path():
    # With a norm the dropped channels still feed the batch statistics, so
    # only the pooled last conv is used; the result must not change.
    branch = _branch(norm_cfg=dict(type='BN'), dropout_ratio=0.5).train()
    x = torch.randn(4, 6, 6, 6)
    fast_out, fast_grads = _logits_and_grads(branch, x, True)
    ref_out, ref_grads = _logits_and_grads(branch, x, False)
    assert torch.allclose(fast_out, ref_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(fast_grads, ref_grads):
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_fast_forward_is_the_default_and_matches_forward_maps():
    branch = _branch().eval()
    assert branch.fast_forward
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        assert torch.allclose(
            branch(x),
            branch.forward_maps(x).mean(dim=(2, 3)),
            rtol=1e-5,
            atol=1e-5)


@pytest.mark.parametrize('fusion', ['sum', 'first_plus_mean'])
@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_fast_forward_is_the_fast_module_bit_for_bit(fusion, mode):
    # forward with fast_forward=True is classification_branch_fast's pooled
    # logits, fused and passed through the FC, with nothing else computed.
    branch = _branch(fusion=fusion, with_fc=True)
    getattr(branch, mode)()
    assert all(map(is_plain_branch, branch.branches))
    x = torch.randn(3, 6, 5, 4)
    torch.manual_seed(3)
    got = branch(x)
    torch.manual_seed(3)
    pooled = [
        pooled_branch_logits(b, x, mode == 'train') for b in branch.branches
    ]
    if fusion == 'sum':
        fused = torch.stack(pooled, dim=0).sum(dim=0)
    else:
        fused = pooled[0] + torch.stack(pooled[1:], dim=0).mean(dim=0)
    assert torch.equal(got, branch.fc(fused))


def test_fast_forward_keeps_parameters_and_state_dict_keys():
    fast, literal = _branch(), _branch(fast_forward=False)
    assert list(fast.state_dict()) == list(literal.state_dict()) == [
        f'branches.{b}.{part}' for b in range(4)
        for part in ('0.conv.weight', '0.conv.bias', '2.weight', '2.bias')
    ]
    literal.load_state_dict(fast.state_dict())
    fast.eval()
    literal.eval()
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        assert torch.allclose(fast(x), literal(x), rtol=1e-5, atol=1e-5)


def test_a_replaced_branch_runs_literally():
    branch = _branch().eval()
    assert branch.fast_forward
    branch.branches[1] = nn.Sequential(*branch.branches[1], nn.ReLU())
    assert not is_plain_branch(branch.branches[1])
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        assert torch.equal(branch(x), branch.forward_maps(x).mean(dim=(2, 3)))
