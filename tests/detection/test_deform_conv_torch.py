# Copyright (c) mmattn contributors. All rights reserved.
"""The pure-PyTorch deformable conv against mmcv's compiled op."""
import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmcv.ops import (DeformConv2d, DeformConv2dPack,
                      ModulatedDeformConv2dPack, deform_conv2d,
                      modulated_deform_conv2d)

from mmattn.blocks import AlignedAttention
from mmattn.blocks.deform_conv import (TorchDeformConv2dPack,
                                       TorchModulatedDeformConv2dPack,
                                       deform_conv2d_torch)

CASES = [
    # (name, kwargs): offsets of std 3 send many samples outside the 7x9 map
    ('random', dict()),
    ('zero offsets: samples on pixel centres', dict(offset_scale=0.0)),
    ('offsets far outside', dict(offset_scale=10.0)),
    ('stride 2, dilation 2', dict(stride=2, dilation=2, padding=2)),
    ('conv groups and 4 deform groups', dict(groups=2, deform_groups=4)),
    ('DCNv2 mask and bias', dict(modulated=True)),
    ('DCNv2, zero offsets, groups', dict(modulated=True, offset_scale=0.0,
                                         groups=2)),
]


def _run_both(dtype, offset_scale=3.0, stride=1, padding=1, dilation=1,
              groups=1, deform_groups=2, modulated=False):
    gen = torch.Generator().manual_seed(0)
    n, c_in, c_out, h, w = 2, 8, 6, 7, 9
    h_out = (h + 2 * padding - 2 * dilation - 1) // stride + 1
    w_out = (w + 2 * padding - 2 * dilation - 1) // stride + 1

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    x = rand(n, c_in, h, w).requires_grad_()
    offset = (rand(n, deform_groups * 18, h_out, w_out) *
              offset_scale).requires_grad_()
    weight = rand(c_out, c_in // groups, 3, 3).requires_grad_()
    inputs = [x, offset, weight]
    mask = bias = None
    if modulated:
        mask = torch.rand(n, deform_groups * 9, h_out, w_out, generator=gen,
                          dtype=dtype).requires_grad_()
        bias = rand(c_out).requires_grad_()
        inputs += [mask, bias]
        ref = modulated_deform_conv2d(x, offset, mask, weight, bias, stride,
                                      padding, dilation, groups,
                                      deform_groups)
    else:
        ref = deform_conv2d(x, offset, weight, stride, padding, dilation,
                            groups, deform_groups, False, 32)
    args = (x, offset, weight, bias, stride, padding, dilation, groups,
            deform_groups, mask)
    out = deform_conv2d_torch(*args)
    with torch.no_grad():  # the grid_sample path
        out_inference = deform_conv2d_torch(*args)
    grad_out = rand(*ref.shape)
    ref_grads = torch.autograd.grad(ref, inputs, grad_out)
    out_grads = torch.autograd.grad(out, inputs, grad_out)
    return out, out_inference, ref, out_grads, ref_grads


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('name,kwargs', CASES, ids=[c[0] for c in CASES])
def test_matches_mmcv_forward_and_gradients(dtype, name, kwargs):
    out, out_inference, ref, out_grads, ref_grads = _run_both(
        dtype, **kwargs)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out_inference, ref.detach())
    labels = ['input', 'offset', 'weight', 'mask', 'bias']
    for label, got, expected in zip(labels, out_grads, ref_grads):
        torch.testing.assert_close(got, expected, msg=f'grad {label}')


def _single_tap(offset_yx):
    """1x1 deformable conv, weight 1, on [[1, 2], [3, 4]] at pixel (0, 0)."""
    x = torch.tensor([[[[1., 2.], [3., 4.]]]], dtype=torch.float64)
    offset = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    offset[0, :, 0, 0] = torch.tensor(offset_yx, dtype=torch.float64)
    offset.requires_grad_()
    weight = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    out = deform_conv2d_torch(x, offset, weight)
    out[0, 0, 0, 0].backward()
    return out[0, 0, 0, 0].item(), offset.grad[0, :, 0, 0].tolist()


def test_bilinear_sample_by_hand():
    # (0.5, 0.25): 1*.5*.75 + 2*.5*.25 + 3*.5*.75 + 4*.5*.25 = 2.25;
    # d/dy = (3 - 1)*.75 + (4 - 2)*.25 = 2, d/dx = (2 - 1)*.5 + (4 - 3)*.5 = 1
    value, grad = _single_tap((0.5, 0.25))
    assert value == pytest.approx(2.25)
    assert grad == pytest.approx([2.0, 1.0])
    # Half a pixel above the map, the missing row is zero padding:
    # value = ly * ((1 - lx) * 1 + lx * 2) with ly = 0.5, lx = 0, so 0.5;
    # d/dy = 1, d/dx = ly * (2 - 1) = 0.5.
    value, grad = _single_tap((-0.5, 0.0))
    assert value == pytest.approx(0.5)
    assert grad == pytest.approx([1.0, 0.5])
    # At y = -1 mmcv's sample and its offset gradient are exactly zero.
    value, grad = _single_tap((-1.0, 0.0))
    assert value == 0.0
    assert grad == [0.0, 0.0]


@pytest.mark.parametrize('mmcv_cls,torch_cls', [
    (DeformConv2dPack, TorchDeformConv2dPack),
    (ModulatedDeformConv2dPack, TorchModulatedDeformConv2dPack),
])
def test_pack_layers_share_checkpoints(mmcv_cls, torch_cls):
    torch.manual_seed(0)
    ref = mmcv_cls(8, 4, 3, padding=1, deform_groups=2)
    # Non-zero offsets (they start at zero) so the layout matters.
    torch.nn.init.normal_(ref.conv_offset.weight, std=0.5)
    layer = torch_cls(8, 4, 3, padding=1, deform_groups=2)
    assert set(layer.state_dict()) == set(ref.state_dict())
    layer.load_state_dict(ref.state_dict())
    x = torch.randn(2, 8, 6, 5)
    torch.testing.assert_close(layer(x), ref(x))


def test_map_smaller_than_kernel():
    # mmcv's compiled op refuses such maps ("input image is smaller than
    # kernel"); DeformConv2d.forward (not the Pack's) pads them with zeros
    # and crops, which the zero-padding semantics make unnecessary here.
    torch.manual_seed(0)
    layer = TorchDeformConv2dPack(8, 4, 3, padding=1, deform_groups=2)
    torch.nn.init.normal_(layer.conv_offset.weight, std=0.5)
    x = torch.randn(2, 8, 2, 1)
    offset = layer.conv_offset(x)
    expected = DeformConv2d.forward(layer, x, offset)
    torch.testing.assert_close(layer(x), expected)


def test_registered_for_conv_module():
    layer = build_conv_layer(
        dict(type='DCNTorch', deform_groups=2), 8, 8, 3, padding=1)
    assert isinstance(layer, TorchDeformConv2dPack)
    layer = build_conv_layer(
        dict(type='DCNv2Torch', deform_groups=2), 8, 8, 3, padding=1)
    assert isinstance(layer, TorchModulatedDeformConv2dPack)


def test_bad_offset_shape_names_it():
    x = torch.randn(1, 4, 5, 5)
    weight = torch.randn(4, 4, 3, 3)
    with pytest.raises(ValueError, match=r'offset must have shape'):
        deform_conv2d_torch(x, torch.zeros(1, 9, 5, 5), weight, padding=1)
    with pytest.raises(ValueError, match='deform_groups=3'):
        deform_conv2d_torch(
            x, torch.zeros(1, 54, 5, 5), weight, padding=1, deform_groups=3)


@pytest.mark.parametrize('deform_type', ['DCN', 'DCNv2'])
def test_aligned_attention_impls_agree(deform_type):
    torch.manual_seed(0)
    kwargs = dict(in_channels=32, mid_channels=32, deform_groups=4,
                  deform_type=deform_type,
                  norm_cfg=dict(type='GN', num_groups=8))
    ref = AlignedAttention(**kwargs)
    assert ref.deform_impl == 'mmcv'  # the default is unchanged
    torch.nn.init.normal_(ref.deform.conv.conv_offset.weight, std=0.3)
    block = AlignedAttention(deform_impl='torch', **kwargs)
    assert type(block.deform.conv).__name__.startswith('TorchModulated'
                                                       if deform_type ==
                                                       'DCNv2' else 'TorchD')
    block.load_state_dict(ref.state_dict())
    x = torch.randn(2, 32, 6, 7)
    torch.testing.assert_close(block(x), ref(x))


def test_aligned_attention_rejects_unknown_impl():
    with pytest.raises(ValueError, match="deform_impl.*'cuda'"):
        AlignedAttention(in_channels=32, mid_channels=32, deform_impl='cuda',
                         norm_cfg=dict(type='GN', num_groups=8))
