# Copyright (c) mmattn contributors. All rights reserved.
"""Deformable convolution in plain PyTorch (DCN v1 and v2).

mmcv 2.1.0's CPU kernels for ``DeformConv2d`` and ``ModulatedDeformConv2d``
are single-threaded scalar loops (im2col, col2im and the offset gradient),
about 50x slower than a dense conv of the same size. The functions here
compute the same thing from batched tensor ops: the four bilinear corners
of every sampling position are gathered from the flattened input, weighted,
and the resulting columns go through one matmul with the weight. The
arithmetic follows mmcv's kernels (``h = h_out * stride - pad + i * dilation
+ offset_h``, ``floor`` for the corners, a sample outside ``(-1, H) x (-1,
W)`` is zero and so is its gradient, corners outside the map count as
zero), so forward values and the gradients w.r.t. input, offset, mask and
weight agree with mmcv's op to float rounding, also for sampling points
outside the map and exactly on pixel centres (zero offsets).

The layer classes subclass mmcv's ``DeformConv2dPack`` and
``ModulatedDeformConv2dPack`` and only replace ``forward``: parameters,
state-dict keys (``weight``, ``conv_offset.*``, ``bias``), initialisation and
the offset layout are mmcv's, so checkpoints load into either
implementation. They are registered as conv layers ``'DCNTorch'`` and
``'DCNv2Torch'`` for ``mmcv.cnn.build_conv_layer`` / ``ConvModule``.
"""
from typing import Optional, Tuple, Union

import torch
from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack
from mmengine.registry import MODELS
from torch import Tensor
from torch.nn.modules.utils import _pair

__all__ = [
    'deform_conv2d_torch', 'TorchDeformConv2dPack',
    'TorchModulatedDeformConv2dPack'
]

IntOrPair = Union[int, Tuple[int, int]]


def _sample_columns(x: Tensor, offset: Tensor, kernel_size: Tuple[int, int],
                    stride: Tuple[int, int], padding: Tuple[int, int],
                    dilation: Tuple[int, int], deform_groups: int,
                    mask: Optional[Tensor]) -> Tuple[Tensor, int, int]:
    """Bilinearly sample the deformed kernel positions (im2col).

    Returns:
        tuple: columns ``(N, C, K, H_out * W_out)`` with ``K = kh * kw``
        (kernel positions in row-major order, as mmcv's im2col), ``H_out``
        and ``W_out``.
    """
    n, c, h, w = x.shape
    kh, kw = kernel_size
    k = kh * kw
    h_out, w_out = offset.shape[-2:]
    num_out = h_out * w_out
    # (N, dg, K, 2, Ho, Wo): per kernel position (dy, dx), as mmcv's layout
    # [y0, x0, y1, x1, ...] within each deformable group.
    offset = offset.view(n, deform_groups, k, 2, h_out, w_out)
    dtype, device = x.dtype, x.device
    ki = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw)
    kj = torch.arange(kw, device=device, dtype=dtype).repeat(kh)
    rows = torch.arange(h_out, device=device, dtype=dtype)
    cols = torch.arange(w_out, device=device, dtype=dtype)
    # Same summation order as mmcv: (h_in + i * dilation) + offset.
    base_y = (rows[None, :, None] * stride[0] - padding[0]) \
        + ki[:, None, None] * dilation[0]
    base_x = (cols[None, None, :] * stride[1] - padding[1]) \
        + kj[:, None, None] * dilation[1]
    py = (base_y + offset[:, :, :, 0]).reshape(n, deform_groups, 1,
                                               k * num_out)
    px = (base_x + offset[:, :, :, 1]).reshape(n, deform_groups, 1,
                                               k * num_out)
    with torch.no_grad():
        y0 = torch.floor(py)
        x0 = torch.floor(px)
        # mmcv zeroes a sample (value and offset gradient) unless it lies
        # strictly inside (-1, H) x (-1, W).
        inside = (py > -1) & (px > -1) & (py < h) & (px < w)
    ly = py - y0
    lx = px - x0
    hy = 1 - ly
    hx = 1 - lx

    x_flat = x.reshape(n, deform_groups, c // deform_groups, h * w)
    sampled = None
    for dy, dx, weight in ((0, 0, hy * hx), (0, 1, hy * lx), (1, 0, ly * hx),
                           (1, 1, ly * lx)):
        with torch.no_grad():
            yy = y0 + dy
            xx = x0 + dx
            valid = inside & (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (
                xx <= w - 1)
            index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).long()
            index = index.expand(-1, -1, c // deform_groups, -1)
        corner = torch.gather(x_flat, 3, index) * (weight * valid)
        sampled = corner if sampled is None else sampled + corner
    if mask is not None:
        sampled = sampled * mask.reshape(n, deform_groups, 1, k * num_out)
    return sampled.view(n, c, k, num_out), h_out, w_out


def deform_conv2d_torch(x: Tensor,
                        offset: Tensor,
                        weight: Tensor,
                        bias: Optional[Tensor] = None,
                        stride: IntOrPair = 1,
                        padding: IntOrPair = 0,
                        dilation: IntOrPair = 1,
                        groups: int = 1,
                        deform_groups: int = 1,
                        mask: Optional[Tensor] = None) -> Tensor:
    """Deformable convolution (DCN v1; v2 when ``mask`` is given).

    Same semantics and tensor layouts as mmcv's ``deform_conv2d`` (v1) and
    ``modulated_deform_conv2d`` (v2); differentiable by autograd.

    Args:
        x (Tensor): Input ``(N, C_in, H, W)``.
        offset (Tensor): ``(N, deform_groups * 2 * kh * kw, H_out, W_out)``,
            per group ``[dy_0, dx_0, dy_1, dx_1, ...]`` over the kernel
            positions in row-major order.
        weight (Tensor): ``(C_out, C_in // groups, kh, kw)``.
        bias (Tensor, optional): ``(C_out,)``.
        stride, padding, dilation (int or tuple[int, int]): As
            ``nn.Conv2d``; padding is zero padding.
        groups (int): Conv groups.
        deform_groups (int): Groups of input channels that share offsets.
        mask (Tensor, optional): DCN v2 modulation
            ``(N, deform_groups * kh * kw, H_out, W_out)``.

    Returns:
        Tensor: ``(N, C_out, H_out, W_out)``.
    """
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    n, c_in = x.shape[:2]
    c_out, c_in_per_group, kh, kw = weight.shape
    if c_in % deform_groups != 0 or c_in_per_group * groups != c_in:
        raise ValueError(
            f'input channels {c_in} do not match deform_groups='
            f'{deform_groups}, groups={groups} and weight {tuple(weight.shape)}')
    h_out = (x.shape[2] + 2 * padding[0] - dilation[0] *
             (kh - 1) - 1) // stride[0] + 1
    w_out = (x.shape[3] + 2 * padding[1] - dilation[1] *
             (kw - 1) - 1) // stride[1] + 1
    expected = (n, deform_groups * 2 * kh * kw, h_out, w_out)
    if tuple(offset.shape) != expected:
        raise ValueError(f'offset must have shape {expected}, '
                         f'got {tuple(offset.shape)}')
    columns, h_out, w_out = _sample_columns(x, offset, (kh, kw), stride,
                                            padding, dilation, deform_groups,
                                            mask)
    # (N, groups, C_in/groups * K, L) @ (groups, C_out/groups, C_in/groups*K)
    columns = columns.reshape(n, groups, c_in_per_group * kh * kw,
                              h_out * w_out)
    out = torch.matmul(
        weight.reshape(groups, c_out // groups, -1), columns)
    out = out.reshape(n, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


@MODELS.register_module('DCNTorch')
class TorchDeformConv2dPack(DeformConv2dPack):
    """mmcv's ``DeformConv2dPack`` computed by :func:`deform_conv2d_torch`.

    Same constructor arguments, parameters and state dict as mmcv's layer
    (``weight`` without bias, ``conv_offset`` giving
    ``deform_groups * 2 * kh * kw`` offset channels, zero-initialised).

    Shapes:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, out_channels, H_out, W_out)``.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore
        """Predict offsets from ``x`` and apply the deformable conv."""
        offset = self.conv_offset(x)
        return deform_conv2d_torch(x, offset, self.weight, None, self.stride,
                                   self.padding, self.dilation, self.groups,
                                   self.deform_groups)


@MODELS.register_module('DCNv2Torch')
class TorchModulatedDeformConv2dPack(ModulatedDeformConv2dPack):
    """mmcv's ``ModulatedDeformConv2dPack`` computed by
    :func:`deform_conv2d_torch`.

    Same constructor arguments, parameters and state dict as mmcv's layer;
    ``conv_offset`` gives ``deform_groups * 3 * kh * kw`` channels: the
    ``dy`` block, the ``dx`` block (concatenated into mmcv's interleaved
    offset layout as in mmcv) and the mask logits.

    Shapes:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, out_channels, H_out, W_out)``.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore
        """Predict offsets and mask from ``x`` and apply DCN v2."""
        out = self.conv_offset(x)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        return deform_conv2d_torch(x, offset, self.weight, self.bias,
                                   self.stride, self.padding, self.dilation,
                                   self.groups, self.deform_groups,
                                   torch.sigmoid(mask))
