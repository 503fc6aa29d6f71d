# Copyright (c) mmattn contributors. All rights reserved.
"""The classification subnetwork of SAL-Net (paper Sec. III-C1, Eq. 10)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig

from mmattn.utils.validation import check_dilations, check_positive_int

_FUSIONS = ('sum', 'first_plus_mean')


@MODELS.register_module()
class SALClassificationBranch(BaseModule):
    """Hybrid-dilation multi-label classifier producing ``d_s``.

    Each branch ``b`` is a 3x3 conv with dilation ``r_b`` (``in_channels ->
    channels``, activation), dropout and a 3x3 conv ``channels ->
    num_classes`` that gives a class map ``d_b`` of shape ``(N, K, H, W)``.
    The maps are fused, globally average pooled and, optionally, passed
    through a ``K x K`` fully connected layer:

    - ``fusion='sum'`` (paper Eq. 10): ``d_s = d_1 + d_2 + d_3 + d_4``;
    - ``fusion='first_plus_mean'`` (authors' code):
      ``d_s = d_1 + mean(d_2, ..., d_B)``.

    Pooling is linear, so fusing before or after it is the same.

    ``forward`` computes the pooled logits without materialising the class
    maps (``fast_forward=True``, the default), with the same result as
    ``forward_maps(x).mean((2, 3))`` up to float rounding:

    - the last conv of each branch (3x3, zero padding 1) is linear, so its
      spatial mean is ``bias + sum_o W_o . S_o(h) / (H W)``, where
      ``S_o(h)`` is the sum of the hidden map ``h`` over the window that the
      kernel offset ``o`` reads (all of ``h`` minus at most one border row
      and column): nine window sums and one small matrix product instead of
      a ``channels -> num_classes`` conv over the whole map, forward and
      backward;
    - in training with dropout and no norm layer, a channel that
      ``Dropout2d`` zeroes for an image contributes nothing, so the first
      conv is computed per image for its kept channels only (about
      ``1 - dropout_ratio`` of the work). The masks are drawn exactly as
      ``nn.Dropout2d`` draws them (one Bernoulli tensor ``(N, C, 1, 1)`` per
      branch, in branch order), so a seeded run gets the same masks on
      either path.

    The literal module path (``fast_forward=False``, or branches replaced
    by other modules) runs each ``nn.Sequential`` as built.

    Args:
        in_channels (int): Channels of the (shared) backbone feature.
        num_classes (int): ``K``, the number of foreground classes (the
            tags carry no background). For VOC: 20.
        channels (int): Width of each branch. Default: 256.
        dilations (Sequence[int]): Dilation rate of each branch; the paper's
            best structure (Table V) is (1, 3, 6, 9). Default: (1, 3, 6, 9).
        fusion (str): ``'sum'`` or ``'first_plus_mean'``. Default: 'sum'.
        with_fc (bool): Add the ``K x K`` FC of the authors' code after the
            pooling. Default: False.
        dropout_ratio (float): Dropout inside each branch (the paper trains
            with 0.5). Default: 0.5.
        conv_cfg (dict, optional): Conv config of the first conv of each
            branch.
        norm_cfg (dict, optional): Norm config of the first conv of each
            branch. Default: None (as the authors).
        act_cfg (dict): Activation. Default: ``dict(type='ReLU')``.
        fast_forward (bool): Compute the pooled logits as described above
            instead of running the modules literally; same function, same
            parameters and checkpoints. Default: True.
        init_cfg (dict or list[dict], optional): Initialisation; the class
            convs and the FC start from N(0, 0.01) (the first convs are
            Kaiming-initialised by ``ConvModule``).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 channels: int = 256,
                 dilations: Sequence[int] = (1, 3, 6, 9),
                 fusion: str = 'sum',
                 with_fc: bool = False,
                 dropout_ratio: float = 0.5,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 fast_forward: bool = True,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, layer=['Conv2d', 'Linear'])):
        super().__init__(init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('num_classes', num_classes), ('channels',
                                                           channels)):
            check_positive_int(name, value)
        check_dilations(dilations)
        if fusion not in _FUSIONS:
            raise ValueError(
                f'fusion must be one of {_FUSIONS}, got {fusion!r}')
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(
                f'dropout_ratio must be in [0, 1), got {dropout_ratio!r}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.channels = channels
        self.dilations = tuple(dilations)
        self.fusion = fusion
        self.with_fc = with_fc
        self.dropout_ratio = float(dropout_ratio)
        self.fast_forward = bool(fast_forward)

        self.branches = nn.ModuleList()
        for dilation in self.dilations:
            self.branches.append(
                nn.Sequential(
                    ConvModule(
                        in_channels,
                        channels,
                        3,
                        padding=dilation,
                        dilation=dilation,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg),
                    nn.Dropout2d(dropout_ratio)
                    if dropout_ratio > 0 else nn.Identity(),
                    nn.Conv2d(channels, num_classes, 3, padding=1)))
        self.fc = nn.Linear(num_classes, num_classes) if with_fc else None

    def forward_maps(self, x: Tensor) -> Tensor:
        """Fused class maps before pooling.

        Args:
            x (Tensor): ``(N, in_channels, H, W)`` backbone feature.

        Returns:
            Tensor: ``(N, num_classes, H, W)`` fused maps.
        """
        maps = [branch(x) for branch in self.branches]
        if self.fusion == 'sum' or len(maps) == 1:
            return torch.stack(maps, dim=0).sum(dim=0)
        return maps[0] + torch.stack(maps[1:], dim=0).mean(dim=0)

    def forward(self, x: Tensor) -> Tensor:
        """Image-level class logits (``d_s = sigmoid(logits)``).

        Args:
            x (Tensor): ``(N, in_channels, H, W)`` backbone feature.

        Returns:
            Tensor: ``(N, num_classes)`` logits.
        """
        if self.fast_forward and all(map(_is_plain_branch, self.branches)):
            pooled = [
                self._pooled_branch(branch, x) for branch in self.branches
            ]
            if self.fusion == 'sum' or len(pooled) == 1:
                logits = torch.stack(pooled, dim=0).sum(dim=0)
            else:
                logits = pooled[0] + torch.stack(pooled[1:], dim=0).mean(dim=0)
        else:
            logits = self.forward_maps(x).mean(dim=(2, 3))
        if self.fc is not None:
            logits = self.fc(logits)
        return logits

    def _pooled_branch(self, branch: nn.Sequential, x: Tensor) -> Tensor:
        """``branch(x).mean((2, 3))`` of one plain branch, ``(N, K)``."""
        first, dropout, last = branch
        conv = first.conv
        skip_dropped = (
            self.training and isinstance(dropout, nn.Dropout2d)
            and dropout.p > 0 and not first.with_norm)
        if not skip_dropped:
            hidden = dropout(_conv_act(first, x, conv.weight, conv.bias))
            return _pooled_conv3x3(hidden, last.weight, last.bias)
        # The mask draw of F.dropout2d: one (N, C, 1, 1) Bernoulli tensor.
        keep_prob = 1.0 - dropout.p
        mask = x.new_empty((x.shape[0], conv.out_channels, 1,
                            1)).bernoulli_(keep_prob)
        outputs = []
        for idx in range(x.shape[0]):
            kept = mask[idx, :, 0, 0].nonzero().squeeze(1)
            if kept.numel() == 0:
                # Everything dropped: the pooled output is the bias. The
                # empty-slice sums (= 0) keep the weights and the input in
                # the graph with a zero gradient, as on the literal path
                # (DDP and autograd.grad need every parameter used).
                linked = sum(
                    t[:0].sum()
                    for t in (x, conv.weight, conv.bias, last.weight)
                    if t is not None)
                bias = (
                    last.bias if last.bias is not None else
                    x.new_zeros(last.out_channels))
                outputs.append((bias + linked).expand(1, -1))
                continue
            bias = conv.bias[kept] if conv.bias is not None else None
            hidden = _conv_act(first, x[idx:idx + 1], conv.weight[kept], bias)
            outputs.append(
                _pooled_conv3x3(hidden / keep_prob, last.weight[:, kept],
                                last.bias))
        return torch.cat(outputs, dim=0)


def _is_plain_branch(branch: nn.Module) -> bool:
    """Whether ``branch`` is ConvModule -> dropout -> 3x3 conv as built
    here, so that :meth:`SALClassificationBranch._pooled_branch` computes
    exactly its pooled output."""
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


def _pooled_conv3x3(hidden: Tensor, weight: Tensor,
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
    pooled = torch.einsum('ncuv,kcuv->nk', window_sums,
                          weight) / float(height * width)
    if bias is not None:
        pooled = pooled + bias
    return pooled


def build_classification_branch(cfg: Optional[dict], in_channels: int,
                                num_classes: int) -> Optional[nn.Module]:
    """Build the classification branch, filling ``in_channels`` and
    ``num_classes`` from the head unless the config sets them."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise TypeError(f'cls_branch must be a dict or None, got {cfg!r}')
    cfg = dict(cfg)
    cfg.setdefault('type', 'SALClassificationBranch')
    cfg.setdefault('in_channels', in_channels)
    cfg.setdefault('num_classes', num_classes)
    if cfg['num_classes'] != num_classes:
        raise ValueError(
            f'cls_branch num_classes={cfg["num_classes"]!r} must equal the '
            f'number of foreground classes {num_classes} (num_classes - 1)')
    return MODELS.build(cfg)
