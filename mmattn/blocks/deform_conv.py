# Copyright (c) mmattn contributors. All rights reserved.
"""Deformable convolution in plain PyTorch (DCN v1 and v2).

mmcv 2.1.0's CPU kernels for ``DeformConv2d`` and ``ModulatedDeformConv2d``
are single-threaded scalar loops (im2col, col2im and the offset gradient),
about 50x slower than a dense conv of the same size. The functions here
compute the same thing from batched tensor ops, then one matmul of the
sampled columns with the weight. When a gradient is needed, the four
bilinear corners of every sampling position are gathered from the flattened
input and weighted; the arithmetic follows mmcv's kernels (``h = h_out *
stride - pad + i * dilation + offset_h``, ``floor`` for the corners, a
sample outside ``(-1, H) x (-1, W)`` is zero and so is its gradient,
corners outside the map count as
zero), so forward values and the gradients w.r.t. input, offset, mask and
weight agree with mmcv's op to float rounding, also for sampling points
outside the map and exactly on pixel centres (zero offsets). Without
gradients (inference) ``F.grid_sample`` samples in one fused kernel, which
is faster for wide maps and gives the same values to float rounding.

The layer classes subclass mmcv's ``DeformConv2dPack`` and
``ModulatedDeformConv2dPack`` and only replace ``forward``: parameters,
state-dict keys (``weight``, ``conv_offset.*``, ``bias``), initialisation and
the offset layout are mmcv's, so checkpoints load into either
implementation. They are registered as conv layers ``'DCNTorch'`` and
``'DCNv2Torch'`` for ``mmcv.cnn.build_conv_layer`` / ``ConvModule``.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack
from mmengine.registry import MODELS
from torch import Tensor
from torch.nn.modules.utils import _pair

__all__ = [
    'deform_conv2d_torch', 'TorchDeformConv2dPack',
    'TorchModulatedDeformConv2dPack'
]

IntOrPair = Union[int, Tuple[int, int]]


def _sampling_points(offset: Tensor, kernel_size: Tuple[int, int],
                     stride: Tuple[int, int], padding: Tuple[int, int],
                     dilation: Tuple[int, int],
                     deform_groups: int) -> Tuple[Tensor, Tensor]:
    """Pixel coordinates ``(y, x)`` of every deformed kernel tap.

    Returns:
        tuple[Tensor]: ``y`` and ``x``, each ``(N, dg, K, H_out, W_out)``
        with ``K = kh * kw`` in row-major order (mmcv's im2col order).
    """
    n = offset.shape[0]
    kh, kw = kernel_size
    h_out, w_out = offset.shape[-2:]
    # (N, dg, K, 2, Ho, Wo): per kernel position (dy, dx), mmcv's layout
    # [y0, x0, y1, x1, ...] within each deformable group.
    offset = offset.view(n, deform_groups, kh * kw, 2, h_out, w_out)
    dtype, device = offset.dtype, offset.device
    ki = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw)
    kj = torch.arange(kw, device=device, dtype=dtype).repeat(kh)
    rows = torch.arange(h_out, device=device, dtype=dtype)
    cols = torch.arange(w_out, device=device, dtype=dtype)
    # Same summation order as mmcv: (h_in + i * dilation) + offset.
    base_y = (rows[None, :, None] * stride[0] - padding[0]) \
        + ki[:, None, None] * dilation[0]
    base_x = (cols[None, None, :] * stride[1] - padding[1]) \
        + kj[:, None, None] * dilation[1]
    return base_y + offset[:, :, :, 0], base_x + offset[:, :, :, 1]


def _sample_gather(x: Tensor, py: Tensor, px: Tensor) -> Tensor:
    """Bilinear samples by gathering the four corners (exact gradients).

    Args:
        x (Tensor): ``(N, C, H, W)``.
        py, px (Tensor): ``(N, dg, K, H_out, W_out)`` pixel coordinates.

    Returns:
        Tensor: ``(N, dg, C // dg, K * H_out * W_out)``.
    """
    n, c, h, w = x.shape
    deform_groups = py.shape[1]
    py = py.reshape(n, deform_groups, 1, -1)
    px = px.reshape(n, deform_groups, 1, -1)
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
    return sampled


def _sample_grid(x: Tensor, py: Tensor, px: Tensor) -> Tensor:
    """Bilinear samples with ``F.grid_sample`` (fast, inference only).

    Zero padding and ``align_corners=False`` give mmcv's border rule. The
    coordinates pass through grid_sample's [-1, 1] normalisation, so a tap
    exactly on a pixel centre may land a rounding error away from it: the
    same value to float rounding, but the offset gradient there could come
    from the neighbouring cell. Hence training uses :func:`_sample_gather`.

    Returns:
        Tensor: ``(N, dg, C // dg, K * H_out * W_out)``.
    """
    n, c, h, w = x.shape
    deform_groups, k, h_out, w_out = py.shape[1:]
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)
    sampled = F.grid_sample(
        x.reshape(n * deform_groups, c // deform_groups, h, w),
        grid.view(n * deform_groups, k * h_out, w_out, 2),
        mode='bilinear',
        padding_mode='zeros',
        align_corners=False)
    return sampled.view(n, deform_groups, c // deform_groups, -1)


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
            f'{deform_groups}, groups={groups} and weight '
            f'{tuple(weight.shape)}')
    h_out = (x.shape[2] + 2 * padding[0] - dilation[0] *
             (kh - 1) - 1) // stride[0] + 1
    w_out = (x.shape[3] + 2 * padding[1] - dilation[1] *
             (kw - 1) - 1) // stride[1] + 1
    expected = (n, deform_groups * 2 * kh * kw, h_out, w_out)
    if tuple(offset.shape) != expected:
        raise ValueError(f'offset must have shape {expected}, '
                         f'got {tuple(offset.shape)}')
    py, px = _sampling_points(offset, (kh, kw), stride, padding, dilation,
                              deform_groups)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad
        for t in (x, offset, weight, bias, mask))
    sample = _sample_gather if needs_grad else _sample_grid
    columns = sample(x, py, px)  # (N, dg, C_in / dg, K * L)
    if mask is not None:
        columns = columns * mask.reshape(n, deform_groups, 1, -1)
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

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int | tuple[int]): Kernel size.
        stride, padding, dilation (int | tuple[int]): As ``nn.Conv2d``.
        groups (int): Conv groups.
        deform_groups (int): Offset groups; ``in_channels`` must divide by
            it.
        bias (bool): Must be False, as in mmcv's ``DeformConv2d``.

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
    first two thirds are the offsets (mmcv's layout), the last third the
    mask logits (through a sigmoid), split as mmcv does.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int | tuple[int]): Kernel size.
        stride, padding, dilation (int | tuple[int]): As ``nn.Conv2d``.
        groups (int): Conv groups.
        deform_groups (int): Offset and mask groups.
        bias (bool): Learn a bias. Default: True (mmcv's default).

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
