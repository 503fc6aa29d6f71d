# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net blocks: spatial attention, CLGN, CLSE, aligned attention."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import nn

import mmattn  # noqa: F401  registers the blocks
from mmattn.blocks import (AlignedAttention, CrossLevelGroupNorm, CrossLevelSE,
                           SpatialAttention)


def _positive_weights(module: nn.Module) -> None:
    """Make every conv strictly positive, so no ReLU is ever inactive."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.01)
                if m.bias is not None:
                    m.bias.fill_(0.01)


def _changed_offsets(sa: SpatialAttention, size: int = 41):
    """Offsets (dy, dx) from a perturbed pixel where the mask changes.

    float64: a corner of the receptive field sees the impulse through the
    product of all (small) weights on its path.
    """
    sa = sa.double()
    x = torch.ones(1, sa.in_channels, size, size, dtype=torch.float64)
    centre = size // 2
    x2 = x.clone()
    x2[0, :, centre, centre] += 1.0
    with torch.no_grad():
        diff = (sa(x2) - sa(x))[0, 0].abs() > 0
    return {(int(i) - centre, int(j) - centre)
            for i, j in diff.nonzero().tolist()}


# ---------------------------------------------------------------------------
# SpatialAttention (Sec. III-A, Fig. 2, Eq. 1)
# ---------------------------------------------------------------------------
def test_spatial_attention_shape_and_range_odd_sizes():
    sa = SpatialAttention(in_channels=6, channels=4)
    for h, w in ((1, 1), (7, 13), (17, 5)):
        mask = sa(torch.randn(2, 6, h, w))
        assert mask.shape == (2, 1, h, w)
        assert ((mask > 0) & (mask < 1)).all()


def test_spatial_attention_layers_follow_dilations():
    sa = SpatialAttention(in_channels=6, channels=16,
                          dilations=(1, 2, 5, 2, 1))
    convs = [m.conv for m in sa.convs]
    assert [c.dilation[0] for c in convs] == [1, 2, 5, 2, 1]
    assert [c.padding[0] for c in convs] == [1, 2, 5, 2, 1]
    assert [c.out_channels for c in convs] == [16, 16, 16, 16, 1]
    assert convs[0].in_channels == 6
    # ReLU between the hidden convs, nothing after the mask conv but the
    # sigmoid in forward.
    assert all(m.with_activation for m in list(sa.convs)[:-1])
    assert not list(sa.convs)[-1].with_activation


def test_spatial_attention_receptive_field_is_sum_of_dilations():
    # 1-2-5-2-1 (hybrid dilated rule): every offset within +-11 is reached,
    # none beyond: no gridding holes.
    sa = SpatialAttention(in_channels=2, channels=3,
                          dilations=(1, 2, 5, 2, 1))
    _positive_weights(sa)
    r = 1 + 2 + 5 + 2 + 1
    expected = {(i, j) for i in range(-r, r + 1) for j in range(-r, r + 1)}
    assert _changed_offsets(sa) == expected


def test_spatial_attention_gridding_with_equal_dilations():
    # Two convs with dilation 2 only ever see even offsets (the gridding
    # artefact the paper's 1-2-5-2-1 design avoids).
    sa = SpatialAttention(in_channels=2, channels=3, dilations=(2, 2))
    _positive_weights(sa)
    expected = {(i, j) for i in range(-4, 5, 2) for j in range(-4, 5, 2)}
    assert _changed_offsets(sa) == expected


def test_spatial_attention_is_sigmoid_of_last_conv():
    sa = SpatialAttention(in_channels=3, channels=4, dilations=(1, 2))
    x = torch.randn(1, 3, 9, 9)
    c0, c1 = sa.convs[0].conv, sa.convs[1].conv
    hidden = F.relu(F.conv2d(x, c0.weight, c0.bias, padding=1))
    logit = F.conv2d(hidden, c1.weight, c1.bias, padding=2, dilation=2)
    assert torch.allclose(sa(x), logit.sigmoid(), atol=1e-6)


def test_spatial_attention_builds_from_registry():
    sa = MODELS.build(dict(type='SpatialAttention', in_channels=4))
    assert isinstance(sa, SpatialAttention)
    assert sa.dilations == (1, 2, 5, 2, 1) and sa.channels == 16


@pytest.mark.parametrize('kwargs, match', [
    (dict(dilations=[]), r'dilations .* got \[\]'),
    (dict(dilations=(1, 0, 1)), r'got \(1, 0, 1\)'),
    (dict(dilations=(1, -2)), r'got \(1, -2\)'),
    (dict(dilations=(1.5, )), r'got \(1.5,\)'),
    (dict(dilations='125'), r"got '125'"),
    (dict(channels=0), r'channels must be a positive int, got 0'),
    (dict(kernel_size=2), r'kernel_size must be odd .* got 2'),
])
def test_spatial_attention_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpatialAttention(in_channels=4, **kwargs)


# ---------------------------------------------------------------------------
# CrossLevelGroupNorm (Sec. III-B, Fig. 3)
# ---------------------------------------------------------------------------
def test_clgn_hand_computed_example():
    # One group over two channels and two levels: statistics over all six
    # numbers 1, 3, 5, 7 (level 0: 1x2 map) and 9, 11 (level 1: 1x1 map).
    level0 = torch.tensor([[[[1., 3.]], [[5., 7.]]]])  # (1, 2, 1, 2)
    level1 = torch.tensor([[[[9.]], [[11.]]]])  # (1, 2, 1, 1)
    clgn = CrossLevelGroupNorm(num_channels=2, num_groups=1, eps=0.0)
    out0, out1 = clgn([level0, level1])
    mean = 6.0
    var = (25 + 9 + 1 + 1 + 9 + 25) / 6  # biased, = 35 / 3
    std = math.sqrt(var)
    assert torch.allclose(
        out0, (level0 - mean) / std, atol=1e-6)
    assert torch.allclose(out1, (level1 - mean) / std, atol=1e-6)
    assert out1[0, 1, 0, 0].item() == pytest.approx(5 / std, abs=1e-6)
    # Plain GroupNorm on level 1 alone would give +-1 instead.
    assert not torch.allclose(
        out1, F.group_norm(level1, 1, eps=0.0), atol=1e-3)


def test_clgn_groups_and_shared_affine_against_formula():
    torch.manual_seed(0)
    feats = [torch.randn(2, 6, h, w) for h, w in ((5, 7), (3, 4), (1, 2))]
    clgn = CrossLevelGroupNorm(num_channels=6, num_groups=3)
    with torch.no_grad():
        clgn.weight.copy_(torch.arange(1., 7.))
        clgn.bias.copy_(torch.arange(6.) / 10)
    outs = clgn(feats)
    for level, (feat, out) in enumerate(zip(feats, outs)):
        for n in range(2):
            for g in range(3):
                chans = slice(2 * g, 2 * g + 2)
                joint = torch.cat(
                    [f[n, chans].flatten() for f in feats])
                mean, var = joint.mean(), joint.var(unbiased=False)
                expected = (feat[n, chans] - mean) / torch.sqrt(var + 1e-5)
                expected = expected * clgn.weight[chans, None, None] + \
                    clgn.bias[chans, None, None]
                assert torch.allclose(out[n, chans], expected, atol=1e-5), \
                    (level, n, g)
        assert out.shape == feat.shape


def test_clgn_single_level_equals_group_norm():
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5, 9)
    gn = nn.GroupNorm(4, 8)
    with torch.no_grad():
        gn.weight.normal_()
        gn.bias.normal_()
    clgn = CrossLevelGroupNorm(num_channels=8, num_groups=4)
    clgn.load_state_dict(gn.state_dict())
    (out, ) = clgn([x])
    assert torch.allclose(out, gn(x), atol=1e-6, rtol=0)


def test_clgn_per_level_affine():
    torch.manual_seed(0)
    feats = [torch.randn(1, 4, 3, 3), torch.randn(1, 4, 2, 2)]
    shared = CrossLevelGroupNorm(4, num_groups=2)
    per_level = CrossLevelGroupNorm(
        4, num_groups=2, affine_per_level=True, num_levels=2)
    assert per_level.weight.shape == (2, 4)
    with torch.no_grad():
        per_level.weight[1].fill_(2.0)
        per_level.bias[1].fill_(-1.0)
    normed = shared(feats)  # gamma = 1, beta = 0
    out = per_level(feats)
    assert torch.allclose(out[0], normed[0], atol=1e-6)
    assert torch.allclose(out[1], 2 * normed[1] - 1, atol=1e-6)


def test_clgn_couples_levels():
    torch.manual_seed(0)
    feats = [torch.randn(1, 4, 6, 6), torch.randn(1, 4, 3, 3)]
    clgn = CrossLevelGroupNorm(4, num_groups=2)
    before = clgn(feats)[0]
    feats[1] = feats[1] * 3 + 1
    after = clgn(feats)[0]
    assert not torch.allclose(before, after, atol=1e-3)


def test_clgn_gradients_reach_affine_and_inputs():
    feats = [torch.randn(2, 4, 4, 4, requires_grad=True),
             torch.randn(2, 4, 2, 2, requires_grad=True)]
    clgn = CrossLevelGroupNorm(4, num_groups=2, affine_per_level=True,
                               num_levels=2)
    outs = clgn(feats)
    (outs[0].square().sum() + outs[1].pow(3).sum()).backward()
    for t in (clgn.weight, clgn.bias, *feats):
        assert t.grad is not None and t.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_channels=6, num_groups=4),
     'num_channels=6 is not divisible by num_groups=4'),
    (dict(num_channels=0), 'num_channels must be a positive int, got 0'),
    (dict(num_channels=4, num_groups=0), 'num_groups .* got 0'),
    (dict(num_channels=4, num_groups=2, affine_per_level=True),
     'affine_per_level=True needs num_levels'),
])
def test_clgn_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrossLevelGroupNorm(**kwargs)


def test_clgn_bad_inputs():
    clgn = CrossLevelGroupNorm(4, num_groups=2, num_levels=2)
    with pytest.raises(ValueError, match=r'same channel count, got \[4, 6\]'):
        clgn([torch.randn(1, 4, 2, 2), torch.randn(1, 6, 2, 2)])
    with pytest.raises(ValueError, match='num_levels=2 levels, got 1'):
        clgn([torch.randn(1, 4, 2, 2)])
    with pytest.raises(ValueError, match='8 channels but num_channels=4'):
        clgn([torch.randn(1, 8, 2, 2)] * 2)
    with pytest.raises(ValueError, match='list of'):
        clgn(torch.randn(1, 4, 2, 2))


# ---------------------------------------------------------------------------
# CrossLevelSE (Sec. III-B, Eq. 2)
# ---------------------------------------------------------------------------
def _manual_clse(se: CrossLevelSE, feats, pool):
    vec = torch.cat([pool(f) for f in feats], dim=1)
    hidden = F.relu(vec @ se.fc_reduce.weight.t() + se.fc_reduce.bias)
    return torch.sigmoid(hidden @ se.fc_expand.weight.t() +
                         se.fc_expand.bias)[:, :, None, None]


@pytest.mark.parametrize('pooling, pool', [
    ('max', lambda f: f.flatten(2).max(dim=2).values),
    ('avg', lambda f: f.flatten(2).mean(dim=2)),
])
def test_clse_against_manual_computation(pooling, pool):
    torch.manual_seed(0)
    feats = [torch.randn(2, 5, h, w) for h, w in ((7, 3), (4, 4), (1, 1))]
    se = CrossLevelSE(channels=5, num_levels=3, reduced_channels=4,
                      pooling=pooling)
    weights = se(feats)
    assert weights.shape == (2, 5, 1, 1)
    assert torch.allclose(weights, _manual_clse(se, feats, pool), atol=1e-6)


def test_clse_concatenates_levels_in_order():
    # fc_reduce picks channel 1 of level 1 (input index C + 1); the output
    # is sigmoid(that max) on every channel.
    se = CrossLevelSE(channels=2, num_levels=2, reduced_channels=1)
    with torch.no_grad():
        se.fc_reduce.weight.zero_()
        se.fc_reduce.weight[0, 2 + 1] = 1.0
        se.fc_reduce.bias.zero_()
        se.fc_expand.weight.fill_(1.0)
        se.fc_expand.bias.zero_()
    level0 = torch.full((1, 2, 3, 3), 9.0)
    level1 = torch.zeros(1, 2, 2, 2)
    level1[0, 1, 1, 0] = 0.5  # the max of level 1, channel 1
    weights = se([level0, level1])
    assert torch.allclose(weights.flatten(),
                          torch.sigmoid(torch.tensor([0.5, 0.5])))


def test_clse_couples_levels_and_single_level_is_se():
    torch.manual_seed(0)
    feats = [torch.randn(1, 4, 5, 5), torch.randn(1, 4, 3, 3)]
    se = CrossLevelSE(channels=4, num_levels=2, reduced_channels=3)
    before = se(feats)
    feats[1] = feats[1] + 2.0
    assert not torch.allclose(before, se(feats), atol=1e-4)
    # num_levels=1: a plain SE block of one map.
    plain = CrossLevelSE(channels=4, num_levels=1, reduced_channels=3)
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(
        plain([x]),
        _manual_clse(plain, [x], lambda f: f.amax(dim=(2, 3))), atol=1e-6)


def test_clse_errors():
    with pytest.raises(ValueError, match="pooling must be one of .* 'sum'"):
        CrossLevelSE(4, pooling='sum')
    with pytest.raises(ValueError, match='reduced_channels .* got 0'):
        CrossLevelSE(4, reduced_channels=0)
    se = CrossLevelSE(4, num_levels=3)
    with pytest.raises(ValueError, match='num_levels=3, got 2 levels'):
        se([torch.randn(1, 4, 2, 2)] * 2)
    with pytest.raises(ValueError, match=r'\(N, 4, H, W\)'):
        se([torch.randn(1, 5, 2, 2)] * 3)
    with pytest.raises(ValueError, match=r'\(N, 4, H, W\), got shapes'):
        se([torch.randn(4, 2, 2)] * 3)  # a level without its batch axis


# ---------------------------------------------------------------------------
# AlignedAttention (Sec. III-C, Fig. 4)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('deform_type', ['DCN', 'DCNv2'])
def test_aligned_attention_shape_and_init(deform_type):
    aa = AlignedAttention(in_channels=16, mid_channels=8, deform_groups=4,
                          deform_type=deform_type,
                          norm_cfg=dict(type='GN', num_groups=4))
    x = torch.randn(2, 16, 7, 11)
    assert aa(x).shape == (2, 16, 7, 11)
    assert torch.all(aa.restore.norm.weight == 0.1)
    assert aa.deform.conv.deform_groups == 4
    assert torch.all(aa.deform.conv.conv_offset.weight == 0)


def test_aligned_attention_zero_residual_scale_is_relu_identity():
    aa = AlignedAttention(in_channels=8, mid_channels=8,
                          norm_cfg=dict(type='GN', num_groups=4),
                          restore_norm_init=0.0)
    x = torch.randn(1, 8, 5, 6)
    assert torch.allclose(aa(x), F.relu(x))
    no_relu = AlignedAttention(in_channels=8, mid_channels=8,
                               norm_cfg=dict(type='GN', num_groups=4),
                               restore_norm_init=0.0,
                               relu_after_residual=False)
    assert torch.allclose(no_relu(x), x)


def test_aligned_attention_residual_formula():
    torch.manual_seed(0)
    aa = AlignedAttention(in_channels=8, mid_channels=8,
                          norm_cfg=dict(type='GN', num_groups=4))
    x = torch.randn(1, 8, 5, 6)
    branch = aa.restore(aa.deform(aa.reduce(x)))
    assert torch.allclose(aa(x), F.relu(x + branch), atol=1e-6)


class _ParentWithConvInit(BaseModule):

    def __init__(self):
        super().__init__(init_cfg=dict(type='Xavier', layer='Conv2d'))
        self.block = AlignedAttention(
            in_channels=8, mid_channels=8,
            norm_cfg=dict(type='GN', num_groups=4))


def test_aligned_attention_keeps_special_init_under_parent_init():
    parent = _ParentWithConvInit()
    parent.init_weights()
    block = parent.block
    assert torch.all(block.deform.conv.conv_offset.weight == 0)
    assert torch.all(block.deform.conv.conv_offset.bias == 0)
    assert torch.all(block.restore.norm.weight == 0.1)


def test_aligned_attention_gradients():
    aa = AlignedAttention(in_channels=8, mid_channels=8,
                          norm_cfg=dict(type='GN', num_groups=4))
    x = torch.randn(2, 8, 6, 5)
    aa(x).square().sum().backward()
    for name, p in aa.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs, match', [
    (dict(mid_channels=6, deform_groups=4),
     'mid_channels=6 is not divisible by deform_groups=4'),
    (dict(deform_type='DCNv3'), "deform_type must be one of .* 'DCNv3'"),
    (dict(norm_cfg=dict(type='GN', num_groups=3)),
     'in_channels=8 is not divisible by the GN num_groups=3'),
    (dict(mid_channels=0), 'mid_channels must be a positive int, got 0'),
])
def test_aligned_attention_bad_config(kwargs, match):
    cfg = dict(in_channels=8, mid_channels=8, deform_groups=4,
               norm_cfg=dict(type='GN', num_groups=4))
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=match):
        AlignedAttention(**cfg)
