# Copyright (c) mmattn contributors. All rights reserved.
"""The exact fast forward of :class:`SALClassificationBranch` (chosen by
its ``fast_forward`` flag): the pooled logits of one branch without the
``K``-channel class map.

``pooled_branch_logits(branch, x, training)`` equals
``branch(x).mean((2, 3))`` up to float rounding, for the same parameters,
and draws the same dropout masks:

- the last conv of a branch (3x3, zero padding 1) is linear, so its spatial
  mean is ``bias + sum_o W_o . S_o(h) / (H W)``, where ``S_o(h)`` is the
  sum of the hidden map ``h`` over the window that the kernel offset ``o``
  reads (all of ``h`` minus at most one border row and column): nine window
  sums and one small matrix product instead of a ``channels ->
  num_classes`` conv over the whole map, forward and backward
  (:func:`pooled_conv3x3`);
- in training with dropout and no norm layer, a channel that ``Dropout2d``
  zeroes for an image contributes nothing, so the first conv is computed
  per image for its kept channels only (about ``1 - dropout_ratio`` of the
  work). The masks are drawn exactly as ``nn.Dropout2d`` draws them (one
  Bernoulli tensor ``(N, C, 1, 1)`` per branch, in branch order), so a
  seeded run gets the same masks on either path.

This holds for a branch built as the paper module builds it
(:func:`is_plain_branch`); for any other module the branch runs literally.
``tests/segmentation/test_sal_cls_branch_fast_path.py`` checks logits,
gradients and masks against the literal path.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor


def is_plain_branch(branch: nn.Module) -> bool:
    """Whether ``branch`` is ConvModule -> dropout -> 3x3 conv as
    :class:`SALClassificationBranch` builds it, so that
    :func:`pooled_branch_logits` computes exactly its pooled output."""
    if not (isinstance(branch, nn.Sequential) and len(branch) == 3):
        return False
    first, dropout, last = branch
    return (isinstance(first, ConvModule) and type(first.conv) is nn.Conv2d
            and first.order == ('conv', 'norm', 'act')
            and not first.with_explicit_padding
            and first.conv.padding_mode == 'zeros' and first.conv.groups == 1
            and isinstance(dropout, (nn.Dropout2d, nn.Identity))
            and type(last) is nn.Conv2d and last.kernel_size == (3, 3)
            and last.padding == (1, 1) and last.dilation == (1, 1)
            and last.stride == (1, 1) and last.groups == 1
            and last.padding_mode == 'zeros')


def pooled_branch_logits(branch: nn.Sequential, x: Tensor,
                         training: bool) -> Tensor:
    """``branch(x).mean((2, 3))`` of one plain branch (see
    :func:`is_plain_branch`).

    Args:
        branch (nn.Sequential): ConvModule, dropout, 3x3 conv.
        x (Tensor): ``(N, in_channels, H, W)``.
        training (bool): The module's training mode (dropout live).

    Returns:
        Tensor: ``(N, K)``.
    """
    first, dropout, last = branch
    conv = first.conv
    skip_dropped = (
        training and isinstance(dropout, nn.Dropout2d) and dropout.p > 0
        and not first.with_norm)
    if not skip_dropped:
        hidden = dropout(_conv_act(first, x, conv.weight, conv.bias))
        return pooled_conv3x3(hidden, last.weight, last.bias)
    # The mask draw of F.dropout2d: one (N, C, 1, 1) Bernoulli tensor.
    keep_prob = 1.0 - dropout.p
    mask = x.new_empty(
        (x.shape[0], conv.out_channels, 1, 1)).bernoulli_(keep_prob)
    outputs = []
    for idx in range(x.shape[0]):
        kept = mask[idx, :, 0, 0].nonzero().squeeze(1)
        if kept.numel() == 0:
            # Everything dropped: the pooled output is the bias. The
            # empty-slice sums (= 0) keep the weights and the input in
            # the graph with a zero gradient, as on the literal path
            # (DDP and autograd.grad need every parameter used).
            linked = sum(t[:0].sum()
                         for t in (x, conv.weight, conv.bias, last.weight)
                         if t is not None)
            bias = (
                last.bias
                if last.bias is not None else x.new_zeros(last.out_channels))
            outputs.append((bias + linked).expand(1, -1))
            continue
        bias = conv.bias[kept] if conv.bias is not None else None
        hidden = _conv_act(first, x[idx:idx + 1], conv.weight[kept], bias)
        outputs.append(
            pooled_conv3x3(hidden / keep_prob, last.weight[:, kept],
                           last.bias))
    return torch.cat(outputs, dim=0)


def _conv_act(module: ConvModule, x: Tensor, weight: Tensor,
              bias: Optional[Tensor]) -> Tensor:
    """``module(x)`` with the given (possibly channel-subset) conv weights;
    the norm, if any, runs on the full channel set only."""
    conv = module.conv
    out = F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation,
                   conv.groups)
    if module.with_norm:
        out = module.norm(out)
    if module.with_activation:
        out = module.activate(out)
    return out


def pooled_conv3x3(hidden: Tensor, weight: Tensor,
                   bias: Optional[Tensor]) -> Tensor:
    """Spatial mean of ``conv2d(hidden, weight, bias, padding=1)`` for a
    3x3 kernel, without computing the conv map.

    Kernel row ``u`` reads rows ``i + u - 1`` of ``hidden``, i.e. all rows
    but the last (``u = 0``), all (``u = 1``) or all but the first
    (``u = 2``); columns likewise. So the summed output is ``sum_{c,u,v}
    W[k, c, u, v] * S[c, u, v]`` with ``S`` the window sums.

    Args:
        hidden (Tensor): ``(N, C, H, W)``.
        weight (Tensor): ``(K, C, 3, 3)``.
        bias (Tensor, optional): ``(K,)``.

    Returns:
        Tensor: ``(N, K)``.
    """
    height, width = hidden.shape[-2:]
    rows = (slice(0, height - 1), slice(0, height), slice(1, height))
    cols = (slice(0, width - 1), slice(0, width), slice(1, width))
    col_sums = torch.stack([hidden[..., c].sum(dim=-1) for c in cols],
                           dim=-1)  # (N, C, H, 3)
    window_sums = torch.stack([col_sums[:, :, r].sum(dim=2) for r in rows],
                              dim=2)  # (N, C, 3, 3)
    pooled = torch.einsum('ncuv,kcuv->nk', window_sums, weight) / float(
        height * width)
    if bias is not None:
        pooled = pooled + bias
    return pooled
