# Copyright (c) mmattn contributors. All rights reserved.
"""The fine mask-scoring network of the SAL paper (Sec. III-B.2, Table I)."""
import copy
from typing import Dict, List, Optional, Union

import math

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModel, BaseModule
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from torch import Tensor, nn

from mmattn.utils.validation import check_choice, check_positive_int

__all__ = [
    'MaskScoringNet', 'MaskScoringResBlock', 'AvgMaxPool2d',
    'ClassAgreementHead'
]

_POOLS = ('avg', 'max', 'avgmax')


def _build_act(cfg: Optional[dict], channels: int) -> nn.Module:
    """Build an activation; GDN needs the channel count, ReLU and friends
    do not."""
    if cfg is None:
        return nn.Identity()
    cfg = copy.deepcopy(cfg)
    if cfg.get('type') in ('GDN', 'mmengine.GDN'):
        cfg.setdefault('channels', channels)
        return MMENGINE_MODELS.build(cfg)
    return build_activation_layer(cfg)


class MaskScoringResBlock(BaseModule):
    """A residual block of He et al. [43] with a configurable output
    activation (GDN in Table I).

    ``out = act(conv3x3(inner_act(conv3x3(x))) + shortcut(x))``; the
    shortcut is a 1x1 conv when the width changes (layer 2: 128 -> 192),
    the identity otherwise. Table I lists no normalisation layer, so there
    is none (GDN normalises).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        inner_act_cfg: Activation between the two convs.
        act_cfg: Activation after the addition.
        init_cfg: mmengine init config.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 inner_act_cfg: Optional[dict] = dict(type='ReLU'),
                 act_cfg: Optional[dict] = dict(type='GDN'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.inner_act = _build_act(inner_act_cfg, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = (
            nn.Identity() if in_channels == out_channels else nn.Conv2d(
                in_channels, out_channels, 1))
        self.act = _build_act(act_cfg, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.inner_act(self.conv1(x)))
        return self.act(out + self.shortcut(x))


class AvgMaxPool2d(nn.Module):
    """Global average and global max pooling, concatenated over channels.

    Shapes:
        ``(N, C, H, W) -> (N, 2 * C, 1, 1)``: channels ``[0, C)`` are the
        means, ``[C, 2C)`` the maxima.
    """

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [x.mean((2, 3), keepdim=True),
             x.amax((2, 3), keepdim=True)], 1)


class ClassAgreementHead(BaseModule):
    """How much of a mask's foreground has a class that fits the image: the
    class-aware factor ``A`` of :class:`MaskScoringNet`.

    A 1x1 conv gives each foreground class's per-pixel agreement ``s_c =
    sigmoid(z_c)`` from image features; the class masks ``m_c`` are
    average-pooled to the features' grid, and ``A = sum_c sum_px m_c s_c /
    sum_c sum_px m_c`` (1 for an empty mask).

    Args:
        in_channels: Feature channels.
        num_classes: Classes ``K``, background included (``K - 1`` outputs).
        class_prior: Initial ``s_c`` (the conv's bias is ``logit`` of it,
            its weights N(0, 0.01)), so a fresh head barely changes ``P``.
        init_cfg: mmengine init config; the default is the above.

    Shapes:
        features ``(N, in_channels, h, w)``, class masks ``(N, K - 1, H,
        W)`` in ``[0, 1]`` -> ``(N,)``.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 class_prior: float = 0.9,
                 init_cfg: Optional[dict] = None) -> None:
        if not 0 < class_prior < 1:
            raise ValueError(
                f'class_prior must be in (0, 1), got {class_prior}')
        super().__init__(init_cfg=init_cfg or dict(
            type='Normal', layer='Conv2d', std=0.01,
            bias=math.log(class_prior / (1 - class_prior))))
        self.conv = nn.Conv2d(in_channels, num_classes - 1, 1)

    def forward(self, features: Tensor, class_masks: Tensor) -> Tensor:
        masks = F.adaptive_avg_pool2d(class_masks, features.shape[-2:])
        agreement = torch.sigmoid(self.conv(features))
        area = masks.sum((1, 2, 3))
        agree = (masks * agreement).sum((1, 2, 3))
        return torch.where(area > 0, agree / area.clamp_min(1e-12),
                           torch.ones_like(area))


@MODELS.register_module()
class MaskScoringNet(BaseModel):
    """Predicts the quality ``P`` in ``[0, 1]`` of a binary mask from the
    image and the mask (Table I).

    The nine layers of Table I, with ``S`` = ``stem_channels`` (128), ``C``
    = ``channels`` (192), ``D`` = ``fc_channels`` (128)::

        1 3x3 conv 4->S, stride 1, ReLU      6 ResB C->C, GDN
        2 ResB S->C, GDN                     7 3x3 conv C->C, stride 2, ReLU
        3 3x3 conv C->C, stride 2, ReLU      -- global average pooling --
        4 ResB C->C, GDN                     8 fc C->D, GDN
        5 3x3 conv C->C, stride 2, ReLU      9 fc D->1, ReLU

    Table I's fc 8 takes 192 inputs from a 192 x 32 x 32 map, so the map is
    pooled to one vector first; global pooling also makes any input size
    work (the paper trains at 432 x 432, Table I shows 256 x 256).
    The output activation is Table I's ReLU; a ReLU output can die (stuck
    at 0 with no gradient), so the last fc's bias starts at
    ``output_bias_init`` (0.5, the middle of the target range). ``predict``
    clips to ``[0, 1]``; the loss sees the raw output.

    Loss (Eq. 6): ``l2 = (P_i - AC_i) ** 2``, averaged over the batch
    (class-aware: plus ``loss_agreement``, below).

    Class-aware scoring (``num_classes=K``, an mmattn extension): the input
    carries ``K - 1`` class channels after the binary mask (see
    :class:`MaskScoringDataPreprocessor`), and ``P = P_fg * A``. ``P_fg``
    is the network above on image + binary mask; ``A`` in ``[0, 1]`` is the
    share of the mask's foreground whose class a per-pixel class head
    (:class:`ClassAgreementHead`, on layer 6's features at stride 4)
    agrees with. The factorisation mirrors the
    relabelled samples' target, ``AC * kept share`` (see
    ``relabel_target``). Samples of a class-aware synthesis also carry that
    kept share (``gt_agreement``), the head's own target: ``loss_agreement
    = agreement_loss_weight * mean_i (A_i - a_i) ** 2``.

    Class appearance is slow to learn from scratch at a small scorer's size
    (docs/benchmarks_sal.md), so the class head can read a frozen,
    pretrained image backbone instead of layer 6 (``class_backbone``, e.g.
    the segmenter's ResNet with a ``Pretrained`` ``init_cfg``): the head is
    then a linear probe of features that already know the classes. The
    backbone sees the normalised image channels only; its weights are
    loaded by ``init_weights`` and never trained.

    Args:
        in_channels: Input channels of the network above: image + binary
            mask (4). A class-aware scorer's input has ``K - 1`` class
            channels more (:attr:`input_channels`).
        stem_channels: Width of layer 1.
        channels: Width of layers 2-7.
        fc_channels: Width of layer 8.
        conv_act_cfg: Activation of the plain convs (ReLU).
        block_act_cfg: Output activation of the residual blocks and of fc 8
            (GDN).
        block_inner_act_cfg: Activation inside the residual blocks.
        output_activation: ``'relu'`` (Table I) or ``'sigmoid'``.
        output_bias_init: Initial bias of the last fc.
        pool: Global pooling before fc 8: ``'avg'``, ``'max'``, or
            ``'avgmax'`` (both, concatenated: fc 8 then takes ``2 * C``
            inputs; the average keeps how much of the map responds, the
            maximum the strongest local evidence).
        loss_weight: Multiplies the L2 loss.
        num_classes: ``None`` (the paper's binary scorer) or ``K``, the
            classes of the proxies' label maps, background included
            (class-aware scoring, above; the data preprocessor must have
            the same ``num_classes``).
        class_prior: Initial class agreement ``s_c`` of the class head
            (its bias), so a fresh class-aware scorer starts near its
            binary part.
        class_backbone: Optional config (mmseg ``MODELS``) of a frozen
            image backbone whose last output feeds the class head (above);
            needs ``num_classes``. Its ``init_cfg`` should load pretrained
            weights.
        agreement_loss_weight: Weight of ``loss_agreement = mean_i (A_i -
            a_i) ** 2`` for samples with a ``gt_agreement`` ``a_i`` (a
            class-aware synthesis gives it: 1, or a relabelled sample's
            kept share). It trains the class head on its own target
            besides ``P``'s; 0 turns it off.
        data_preprocessor: Config of the preprocessor that turns packed
            ``(4, H, W)`` uint8 inputs into normalised float batches of
            ``in_channels`` channels.
        init_cfg: mmengine init config (Kaiming for convs, by default).

    Shapes:
        input ``(N, in_channels, H, W)`` (class-aware: ``(N, in_channels +
        K - 1, H, W)``), any ``H, W >= 8``; output ``(N,)``.
    """

    def __init__(self,
                 in_channels: int = 4,
                 stem_channels: int = 128,
                 channels: int = 192,
                 fc_channels: int = 128,
                 conv_act_cfg: dict = dict(type='ReLU'),
                 block_act_cfg: dict = dict(type='GDN'),
                 block_inner_act_cfg: Optional[dict] = dict(type='ReLU'),
                 output_activation: str = 'relu',
                 output_bias_init: float = 0.5,
                 pool: str = 'avg',
                 loss_weight: float = 1.0,
                 num_classes: Optional[int] = None,
                 class_prior: float = 0.9,
                 agreement_loss_weight: float = 1.0,
                 class_backbone: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = dict(
                     type='MaskScoringDataPreprocessor'),
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer='Conv2d', a=0,
                          nonlinearity='relu'),
                     dict(type='Normal', layer='Linear', std=0.01)
                 ]) -> None:
        if isinstance(data_preprocessor, dict):
            # BaseModel would build it from mmengine's root registry, which
            # cannot see mmseg's modules unless a default scope is set.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        check_positive_int('in_channels', in_channels)
        check_positive_int('stem_channels', stem_channels)
        check_positive_int('channels', channels)
        check_positive_int('fc_channels', fc_channels)
        if output_activation not in ('relu', 'sigmoid'):
            raise ValueError("output_activation must be 'relu' or "
                             f"'sigmoid', got {output_activation!r}")
        check_choice('pool', pool, _POOLS)
        if not loss_weight > 0:
            raise ValueError(f'loss_weight must be > 0, got {loss_weight}')
        if num_classes is not None:
            check_positive_int('num_classes', num_classes)
            if num_classes < 2:
                raise ValueError(f'num_classes must be >= 2 (background '
                                 f'included), got {num_classes}')
            preprocessor_classes = getattr(self.data_preprocessor,
                                           'num_classes', num_classes)
            if preprocessor_classes != num_classes:
                raise ValueError(
                    f'MaskScoringNet num_classes={num_classes} but its data '
                    f'preprocessor encodes num_classes='
                    f'{preprocessor_classes}: set both to the proxies\' '
                    'classes')
        self.in_channels = in_channels
        self.num_classes = num_classes
        if agreement_loss_weight < 0:
            raise ValueError('agreement_loss_weight must be >= 0, got '
                             f'{agreement_loss_weight}')
        self.agreement_loss_weight = float(agreement_loss_weight)
        self.output_activation = output_activation
        self.output_bias_init = float(output_bias_init)
        self.loss_weight = float(loss_weight)

        def conv(cin, cout, stride):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
                _build_act(conv_act_cfg, cout))

        def resb(cin):
            return MaskScoringResBlock(
                cin, channels, inner_act_cfg=block_inner_act_cfg,
                act_cfg=block_act_cfg)

        self.layers = nn.Sequential(
            conv(in_channels, stem_channels, 1),  # 1
            resb(stem_channels),  # 2
            conv(channels, channels, 2),  # 3
            resb(channels),  # 4
            conv(channels, channels, 2),  # 5
            resb(channels),  # 6
            conv(channels, channels, 2))  # 7
        if pool == 'avg':
            self.pool = nn.AdaptiveAvgPool2d(1)
        elif pool == 'max':
            self.pool = nn.AdaptiveMaxPool2d(1)
        else:
            self.pool = AvgMaxPool2d()
        pooled = 2 * channels if pool == 'avgmax' else channels
        self.fc1 = nn.Linear(pooled, fc_channels)  # 8
        self.fc1_act = _build_act(block_act_cfg, fc_channels)
        self.fc2 = nn.Linear(fc_channels, 1)  # 9
        self.class_backbone = None
        head_channels = channels
        if class_backbone is not None:
            if num_classes is None:
                raise ValueError('class_backbone feeds the class head of a '
                                 'class-aware scorer: set num_classes too')
            self.class_backbone = MODELS.build(class_backbone)
            self.class_backbone.requires_grad_(False)
            with torch.no_grad():
                probe = self.class_backbone(torch.zeros(1, 3, 32, 32))
            head_channels = probe[-1].shape[1]
        self.class_head = None if num_classes is None else \
            ClassAgreementHead(head_channels, num_classes, class_prior)
        self._reset_output_bias()

    def _reset_output_bias(self) -> None:
        with torch.no_grad():
            if self.output_activation == 'sigmoid':
                p = min(max(self.output_bias_init, 1e-4), 1 - 1e-4)
                self.fc2.bias.fill_(float(torch.logit(torch.tensor(p))))
            else:
                self.fc2.bias.fill_(self.output_bias_init)

    def train(self, mode: bool = True) -> 'MaskScoringNet':
        """Set the mode; a class backbone stays in eval mode (frozen)."""
        super().train(mode)
        if self.class_backbone is not None:
            self.class_backbone.eval()
        return self

    @property
    def input_channels(self) -> int:
        """Channels of the normalised input: ``in_channels``, plus ``K - 1``
        class channels when class-aware."""
        extra = 0 if self.num_classes is None else self.num_classes - 1
        return self.in_channels + extra

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (the class head and backbone then apply their
        own), then restore the output bias (see class docstring) that a
        generic Linear init would overwrite.

        Raises:
            ValueError: The class backbone's ``Pretrained`` init names no
                checkpoint.
        """
        init = getattr(self.class_backbone, 'init_cfg', None) or {}
        if isinstance(init, dict) and init.get('type') == 'Pretrained' and \
                not init.get('checkpoint'):
            raise ValueError(
                'model.class_backbone.init_cfg is Pretrained without a '
                'checkpoint: set model.class_backbone.init_cfg.checkpoint to '
                'the pretrained backbone (a frozen random backbone would '
                'teach the class head nothing)')
        super().init_weights()
        self._reset_output_bias()

    def extract_score(self, inputs: Tensor) -> Tensor:
        """Raw network output ``(N,)`` for a normalised
        ``(N, in_channels, H, W)`` batch."""
        return self._score_and_agreement(inputs)[0]

    def _score_and_agreement(self, inputs: Tensor):
        """``P`` and (class-aware) ``A``, or ``None``, both ``(N,)``."""
        if inputs.dim() != 4 or inputs.shape[1] != self.input_channels:
            what = 'image + mask' if self.num_classes is None else \
                f'image + mask + {self.num_classes - 1} class channels'
            raise ValueError(
                f'MaskScoringNet expects (N, {self.input_channels}, H, W) '
                f'inputs ({what}), got {tuple(inputs.shape)}')
        x = inputs[:, :self.in_channels]
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index == 5:  # Table I's layer 6, stride 4
                features = x
        x = self.pool(x).flatten(1)
        x = self.fc2(self.fc1_act(self.fc1(x))).squeeze(1)
        score = torch.sigmoid(x) if self.output_activation == 'sigmoid' \
            else torch.relu(x)
        if self.class_head is None:
            return score, None
        if self.class_backbone is not None:
            features = self.class_backbone(inputs[:, :3])[-1]
        agreement = self.class_head(features, inputs[:, self.in_channels:])
        return score * agreement, agreement

    @torch.no_grad()
    def class_agreement(self, inputs: Tensor) -> Tensor:
        """The class-aware factor ``A`` ``(N,)`` of a normalised batch (a
        diagnostic: ``P = P_fg * A``).

        Raises:
            ValueError: The scorer is not class-aware.
        """
        if self.class_head is None:
            raise ValueError('class_agreement needs a class-aware scorer '
                             '(num_classes set)')
        return self._score_and_agreement(inputs)[1]

    @staticmethod
    def _targets(data_samples: List[BaseDataElement], like: Tensor,
                 key: str = 'gt_score') -> Tensor:
        targets = []
        for i, sample in enumerate(data_samples):
            if key not in sample:
                raise KeyError(f'data sample {i} has no {key}; the loss '
                               'needs it for every sample')
            targets.append(torch.as_tensor(sample.get(key)).reshape(()))
        return torch.stack(targets).to(like)

    def loss(self, inputs: Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        """Eq. 6: mean over the batch of ``(P_i - AC_i) ** 2``.

        Args:
            inputs: ``(N, in_channels, H, W)`` normalised batch.
            data_samples: ``N`` samples carrying ``gt_score``.

        Returns:
            dict with ``loss_l2`` (scalar), and ``loss_agreement`` for a
            class-aware scorer whose samples carry ``gt_agreement``.
        """
        pred, agreement = self._score_and_agreement(inputs)
        target = self._targets(data_samples, pred)
        losses = dict(loss_l2=self.loss_weight * ((pred - target)**2).mean())
        if agreement is not None and self.agreement_loss_weight > 0 and \
                all('gt_agreement' in s for s in data_samples):
            wanted = self._targets(data_samples, agreement, 'gt_agreement')
            losses['loss_agreement'] = self.agreement_loss_weight * (
                (agreement - wanted)**2).mean()
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[BaseDataElement]] = None
                ) -> List[BaseDataElement]:
        """Scores clipped to ``[0, 1]`` in ``pred_score`` of each sample.

        Returns:
            list of ``N`` :class:`BaseDataElement` (the given ones, or new
            ones) with ``pred_score`` a 0-d tensor.
        """
        pred = self.extract_score(inputs).clamp(0.0, 1.0)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(pred))]
        for sample, score in zip(data_samples, pred):
            sample.pred_score = score.detach()
        return data_samples

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        """mmengine entry point.

        Args:
            inputs: ``(N, in_channels, H, W)`` normalised batch.
            data_samples: Samples with ``gt_score`` (``'loss'``) or any.
            mode: ``'loss'`` -> dict of losses, ``'predict'`` -> list of
                samples with ``pred_score``, ``'tensor'`` -> raw ``(N,)``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_score(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')
