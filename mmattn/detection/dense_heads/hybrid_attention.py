# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net's head attention for any mmdet dense head with cls/reg towers.

:class:`HybridAttentionMixin` owns the spatial attention, the cross-level
group norm (CLGN), the extra conv and the cross-level SE (CLSE) of HAR-Net
(Sec. III-A/B/D, Fig. 5). A head that puts them on an mmdet parent only
wires its predictors in::

    @MODELS.register_module()
    class HARATSSHead(HybridAttentionMixin, ATSSHead):

        def _level_args(self):          # what forward_single takes per level
            return (self.scales, )

        def _predict_single(self, cls_feat, reg_feat, scale):
            ...                          # the parent's predictor convs

The parent must keep its towers in ``cls_convs``/``reg_convs`` (torch
``ModuleList`` s of ``ConvModule``), read ``stacked_convs`` when it builds
them, and have a ``prior_generator`` whose ``num_levels`` is the number of
pyramid levels: mmdet's ``RetinaHead``, ``ATSSHead``, ``GFLHead`` and the
``AnchorFreeHead`` family (``FCOSHead``) do.
"""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.utils import multi_apply, unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList
from mmengine.model import ModuleList
from torch import Tensor

from mmattn.detection.box_objectness import box_objectness_targets
from mmattn.utils.validation import check_level_channels, is_real

__all__ = [
    'HybridAttentionMixin', 'DEFAULT_SPATIAL_ATTENTION',
    'DEFAULT_CHANNEL_ATTENTION', 'DEFAULT_CROSS_LEVEL_NORM'
]

# HAR-Net's head (Table IV "HA"): the defaults of every HAR head.
DEFAULT_SPATIAL_ATTENTION = dict(
    type='SpatialAttention', channels=16, dilations=(1, 2, 5, 2, 1))
DEFAULT_CHANNEL_ATTENTION = dict(
    type='CrossLevelSE', reduced_channels=32, pooling='max')
DEFAULT_CROSS_LEVEL_NORM = dict(
    type='CrossLevelGroupNorm', affine_per_level=False)

_CLGN_RESERVED = ('num_channels', 'num_groups', 'eps', 'num_levels')


class HybridAttentionMixin:
    """HAR-Net's spatial attention, CLGN, extra conv and CLSE on the cls and
    reg towers of an mmdet dense head.

    Per branch (cls and reg), for all pyramid levels ``P_l`` at once::

        t_l = P_l
        for each tower conv k (weights shared across levels):
            t_l = ReLU(CLGN_k([conv_k(t_0), ..., conv_k(t_L-1)])_l)
        t_l = t_l * SA(P_l)                        # Eq. 1, task-shared mask
        t_l = ReLU(extra_conv(t_l))
        t_l = t_l * CLSE([t_0, ..., t_L-1])         # Eq. 2, per branch
        outputs_l = the parent's predictors on (t_l of cls, t_l of reg)

    Without CLGN the tower is the parent's own (``ConvModule`` s with its
    ``norm_cfg``); with it, bias-free convs each followed by one
    :class:`~mmattn.blocks.CrossLevelGroupNorm` and a ReLU. With every part
    off (``spatial_attention=None``, ``channel_attention=None``,
    ``cross_level_norm=None``, ``extra_conv=False``) the head computes
    exactly what its mmdet parent computes and loads its state dict.

    The keyword arguments it takes before the parent's (validated before
    the parent's ``__init__`` builds the layers); everything else goes to
    the parent:

    Args:
        norm_cfg (dict, optional): The head's tower norm. With
            ``cross_level_norm`` set it must be a ``GN`` config, whose
            ``num_groups``/``eps``/``requires_grad`` the CLGN layers take.
            Defaults to ``dict(type='GN', num_groups=32,
            requires_grad=True)``.
        spatial_attention (dict, optional): Config of the
            :class:`~mmattn.blocks.SpatialAttention` branch (``type``
            defaults to ``'SpatialAttention'``; ``in_channels`` is filled
            in). One instance, called on every level; its mask multiplies
            the output of both towers. None disables it. Defaults to
            :data:`DEFAULT_SPATIAL_ATTENTION` (1-2-5-2-1, 16 channels).
        channel_attention (dict, optional): Channel attention after the
            extra conv, one module per branch. Keys: ``type`` (defaults to
            ``'CrossLevelSE'``), ``per_level`` (bool: one SE block per level
            that sees only its own level, the paper's SE-CA; False: CLSE),
            ``logit_mix`` (None, or ``alpha`` in (0, 1]: the cls tower
            output is scaled by ``1 - alpha + alpha * A`` instead of ``A``,
            which for a linear predictor is ``(1 - alpha) * cls(t) + alpha
            * cls(t * A)``, the authors' code with ``alpha=0.5``; every
            predictor on the cls tower sees the mix); every other key
            (``reduced_channels``, ``pooling``) goes to the SE module. None
            disables it. Defaults to :data:`DEFAULT_CHANNEL_ATTENTION` (CLSE,
            32 reduced channels, max pooling).
        cross_level_norm (dict, optional): Use CLGN after every tower conv
            instead of ``norm_cfg`` per level. Keys: ``type`` (defaults to
            ``'CrossLevelGroupNorm'``), ``affine_per_level`` (False: the
            paper's shared scaling; True: the authors' code). None: the
            parent's per-level tower. Defaults to
            :data:`DEFAULT_CROSS_LEVEL_NORM` (shared scaling).
        extra_conv (bool, optional): Add the 3x3 conv + ReLU before the
            predictors (Sec. III-D). None (default) means "when channel
            attention is on".
        spatial_attention_loss (dict, optional): ``dict(loss_weight=w)``:
            supervise the spatial masks as box-wise objectness maps, logged
            as ``loss_sa`` (see :meth:`spatial_attention_loss`). None: the
            masks learn only through the detection losses (default).
        *args, **kwargs: The parent head's arguments.

    Initialisation: the tower convs stay in torch ``ModuleList`` s, as the
    parents', so the parent's ``init_cfg`` (``Normal(0.01)`` on every
    ``Conv2d``) reaches them with and without CLGN and a HAR head starts
    from the same tower as its mmdet twin; the extra conv keeps
    ``ConvModule``'s Kaiming init and the attention blocks apply their own
    after the parent's (see :class:`~mmattn.blocks.SpatialAttention`).

    Attributes the staged hook, the attention pictures and the tests read:
    ``spatial_attention``, ``cls_channel_attention``,
    ``reg_channel_attention``, ``cls_extra_conv``, ``reg_extra_conv``,
    ``cls_norms``, ``reg_norms`` (None when off) and ``num_levels``.
    """

    def __init__(self,
                 *args,
                 norm_cfg: Optional[dict] = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 spatial_attention: Optional[dict] = DEFAULT_SPATIAL_ATTENTION,
                 channel_attention: Optional[dict] = DEFAULT_CHANNEL_ATTENTION,
                 cross_level_norm: Optional[dict] = DEFAULT_CROSS_LEVEL_NORM,
                 extra_conv: Optional[bool] = None,
                 spatial_attention_loss: Optional[dict] = None,
                 **kwargs) -> None:
        # Validated before the parent's __init__, which builds the layers
        # through _init_layers.
        self._configure_hybrid_attention(
            norm_cfg, spatial_attention, channel_attention, cross_level_norm,
            extra_conv, spatial_attention_loss)
        super().__init__(*args, norm_cfg=norm_cfg, **kwargs)

    # ------------------------------------------------------------------
    # configuration
    # ------------------------------------------------------------------
    def _configure_hybrid_attention(
            self, norm_cfg: Optional[dict],
            spatial_attention: Optional[dict],
            channel_attention: Optional[dict],
            cross_level_norm: Optional[dict], extra_conv: Optional[bool],
            spatial_attention_loss: Optional[dict]) -> None:
        """Validate and store the attention configuration (see the class
        docstring)."""
        for name, value in (('spatial_attention', spatial_attention),
                            ('channel_attention', channel_attention),
                            ('cross_level_norm', cross_level_norm)):
            if value is not None and not isinstance(value, dict):
                raise TypeError(f'{name} must be a config dict or None, got '
                                f'{value!r}')
        self.sa_loss_weight = None
        if spatial_attention_loss is not None:
            if spatial_attention is None:
                raise ValueError('spatial_attention_loss needs '
                                 'spatial_attention; got None')
            unknown = set(spatial_attention_loss) - {'loss_weight'}
            weight = spatial_attention_loss.get('loss_weight', 1.0)
            if unknown or not is_real(weight) or weight < 0:
                raise ValueError(
                    'spatial_attention_loss must be dict(loss_weight=<number '
                    f'>= 0>), got {spatial_attention_loss!r}')
            self.sa_loss_weight = float(weight)
        if extra_conv is not None and not isinstance(extra_conv, bool):
            raise TypeError(
                f'extra_conv must be True, False or None, got {extra_conv!r}')
        if cross_level_norm is not None:
            if not isinstance(norm_cfg, dict) or norm_cfg.get('type') != 'GN':
                raise ValueError(
                    'cross_level_norm needs norm_cfg to be a GN config '
                    "(dict(type='GN', num_groups=...)), got norm_cfg="
                    f'{norm_cfg!r}')
            reserved = [k for k in _CLGN_RESERVED if k in cross_level_norm]
            if reserved:
                raise ValueError(
                    f'cross_level_norm must not set {reserved}: they come '
                    'from norm_cfg, feat_channels and the prior strides; '
                    f'got cross_level_norm={cross_level_norm!r}')
        self.spatial_attention_cfg = copy.deepcopy(spatial_attention)
        self.channel_attention_cfg = copy.deepcopy(channel_attention)
        self.cross_level_norm_cfg = copy.deepcopy(cross_level_norm)
        self.logit_mix = None
        self.se_per_level = False
        if channel_attention is not None:
            self.logit_mix = channel_attention.get('logit_mix')
            self.se_per_level = channel_attention.get('per_level', False)
            if not isinstance(self.se_per_level, bool):
                raise TypeError('channel_attention.per_level must be a bool, '
                                f'got {self.se_per_level!r}')
            if self.logit_mix is not None and (
                    not is_real(self.logit_mix)
                    or not 0 < self.logit_mix <= 1):
                raise ValueError('channel_attention.logit_mix must be None or '
                                 f'in (0, 1], got {self.logit_mix!r}')
        self.with_extra_conv = (channel_attention is not None
                                if extra_conv is None else extra_conv)

    # ------------------------------------------------------------------
    # layers
    # ------------------------------------------------------------------
    def _init_layers(self) -> None:
        """The parent's layers (its own tower without CLGN), then the
        attention parts."""
        self.num_levels = self.prior_generator.num_levels
        if self.cross_level_norm_cfg is None:
            super()._init_layers()
            self.cls_norms = self.reg_norms = None
        else:
            # Towers first: the head's init_cfg then meets the convs in the
            # parent's order (towers, then predictors).
            self._init_clgn_towers()
            self._init_layers_without_tower()
        self._init_attention_layers()

    def _init_layers_without_tower(self) -> None:
        """The parent's layers besides its tower convs (predictors, scales),
        after :meth:`_init_clgn_towers`.

        The default runs the parent's ``_init_layers`` with
        ``stacked_convs = 0`` and keeps the CLGN towers; this suits parents
        whose predictors take ``feat_channels`` inputs (ATSS, GFL, the
        ``AnchorFreeHead`` family). A head whose parent sizes them otherwise
        overrides it.
        """
        towers = self.cls_convs, self.reg_convs
        stacked_convs = self.stacked_convs
        self.stacked_convs = 0
        try:
            super()._init_layers()
        finally:
            self.stacked_convs = stacked_convs
            self.cls_convs, self.reg_convs = towers

    def _tower_conv_cfg(self, index: int) -> Optional[dict]:
        """Conv config of tower conv ``index`` under CLGN (the head's
        ``conv_cfg``; a parent with per-layer convs overrides this)."""
        return self.conv_cfg

    def _init_clgn_towers(self) -> None:
        """Tower convs without their own norm, each followed by one CLGN."""
        norm_cfg = self.norm_cfg
        clgn_cfg = dict(self.cross_level_norm_cfg)
        clgn_cfg.setdefault('type', 'CrossLevelGroupNorm')
        clgn_cfg.update(
            num_groups=norm_cfg.get('num_groups'),
            eps=norm_cfg.get('eps', 1e-5),
            num_channels=self.feat_channels,
            num_levels=self.num_levels)
        # torch's ModuleList, as the parents' towers: an mmengine ModuleList
        # would call each ConvModule's own Kaiming init after the head's
        # Normal(0.01), and the twins would start differently.
        self.cls_convs = torch.nn.ModuleList()
        self.reg_convs = torch.nn.ModuleList()
        self.cls_norms = torch.nn.ModuleList()
        self.reg_norms = torch.nn.ModuleList()
        in_channels = self.in_channels
        for i in range(self.stacked_convs):
            for convs, norms in ((self.cls_convs, self.cls_norms),
                                 (self.reg_convs, self.reg_norms)):
                # The CLGN shift makes a conv bias redundant.
                convs.append(
                    ConvModule(
                        in_channels,
                        self.feat_channels,
                        3,
                        padding=1,
                        conv_cfg=self._tower_conv_cfg(i),
                        norm_cfg=None,
                        act_cfg=None,
                        bias=False))
                norm = MODELS.build(clgn_cfg)
                if not norm_cfg.get('requires_grad', True):
                    for param in norm.parameters():
                        param.requires_grad = False
                norms.append(norm)
            in_channels = self.feat_channels

    def _init_attention_layers(self) -> None:
        """Spatial attention, extra convs and channel attention."""
        self.spatial_attention = None
        if self.spatial_attention_cfg is not None:
            cfg = dict(self.spatial_attention_cfg)
            cfg.setdefault('type', 'SpatialAttention')
            cfg['in_channels'] = self.in_channels
            self.spatial_attention = MODELS.build(cfg)

        tower_out = self.feat_channels if self.stacked_convs > 0 \
            else self.in_channels
        self.cls_extra_conv = self.reg_extra_conv = None
        if self.with_extra_conv:
            self.cls_extra_conv = ConvModule(
                tower_out, tower_out, 3, padding=1, conv_cfg=self.conv_cfg)
            self.reg_extra_conv = ConvModule(
                tower_out, tower_out, 3, padding=1, conv_cfg=self.conv_cfg)

        self.cls_channel_attention = self.reg_channel_attention = None
        if self.channel_attention_cfg is not None:
            self.cls_channel_attention = self._build_channel_attention(
                tower_out)
            self.reg_channel_attention = self._build_channel_attention(
                tower_out)

    def _build_channel_attention(self, channels: int):
        cfg = {
            k: v
            for k, v in self.channel_attention_cfg.items()
            if k not in ('per_level', 'logit_mix')
        }
        cfg.setdefault('type', 'CrossLevelSE')
        cfg['channels'] = channels
        if not self.se_per_level:
            cfg['num_levels'] = self.num_levels
            return MODELS.build(cfg)
        # SE-CA: one independent SE block per level.
        cfg['num_levels'] = 1
        return ModuleList([MODELS.build(cfg) for _ in range(self.num_levels)])

    @property
    def is_level_independent(self) -> bool:
        """Whether each level can be computed on its own (forward_single)."""
        return self.cross_level_norm_cfg is None and \
            self.channel_attention_cfg is None

    # ------------------------------------------------------------------
    # what a head wires in
    # ------------------------------------------------------------------
    def _level_args(self) -> tuple:
        """Per-level arguments of :meth:`_predict_single` besides the two
        features, as sequences over levels (e.g. ``(self.scales, )``)."""
        return ()

    def _predict_single(self, cls_feat: Tensor, reg_feat: Tensor,
                        *level_args) -> tuple:
        """The parent's predictors on one level's tower outputs.

        Args:
            cls_feat (Tensor): cls tower output ``(N, C, H, W)``.
            reg_feat (Tensor): reg tower output ``(N, C, H, W)``.
            *level_args: This level's entries of :meth:`_level_args`.

        Returns:
            tuple: What the parent's ``forward_single`` returns.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement _predict_single')

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _tower(self, feats: List[Tensor], convs, norms) -> List[Tensor]:
        for i, conv in enumerate(convs):
            feats = [conv(f) for f in feats]
            if norms is not None:
                # Not in place: the levels are views of one joint tensor.
                feats = [F.relu(f) for f in norms[i](feats)]
        return feats

    def _channel_weights(self, module, feats: List[Tensor]) -> List[Tensor]:
        """Channel weights ``(N, C, 1, 1)`` for every level."""
        if self.se_per_level:
            return [se([f]) for se, f in zip(module, feats)]
        weights = module(feats)
        return [weights] * len(feats)

    def _attend(
        self, feats: List[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], Optional[List[Tensor]]]:
        """Towers and attention on the given levels (no level check)."""
        cls_feats = self._tower(feats, self.cls_convs, self.cls_norms)
        reg_feats = self._tower(feats, self.reg_convs, self.reg_norms)

        masks = None
        if self.spatial_attention is not None:
            masks = [self.spatial_attention(f) for f in feats]
            cls_feats = [f * m for f, m in zip(cls_feats, masks)]
            reg_feats = [f * m for f, m in zip(reg_feats, masks)]

        if self.with_extra_conv:
            cls_feats = [self.cls_extra_conv(f) for f in cls_feats]
            reg_feats = [self.reg_extra_conv(f) for f in reg_feats]

        if self.cls_channel_attention is not None:
            cls_weights = self._channel_weights(self.cls_channel_attention,
                                                cls_feats)
            reg_weights = self._channel_weights(self.reg_channel_attention,
                                                reg_feats)
            if self.logit_mix is not None:
                # (1-a) cls(t) + a cls(t * w) == cls(t * (1 - a + a w)) for
                # a linear predictor (bias included).
                alpha = self.logit_mix
                cls_weights = [1 - alpha + alpha * w for w in cls_weights]
            cls_feats = [f * w for f, w in zip(cls_feats, cls_weights)]
            reg_feats = [f * w for f, w in zip(reg_feats, reg_weights)]
        return cls_feats, reg_feats, masks

    def attend(
        self, x: Sequence[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], Optional[List[Tensor]]]:
        """The attended cls and reg tower outputs of every level.

        Args:
            x (Sequence[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.

        Returns:
            tuple: ``cls_feats`` and ``reg_feats`` (L tensors ``(N, C, H_l,
            W_l)``, ``C`` the tower width) and the L spatial masks ``(N, 1,
            H_l, W_l)`` (None without spatial attention).
        """
        x = list(x)
        if len(x) != self.num_levels:
            raise ValueError(
                f'{type(self).__name__} was built for {self.num_levels} '
                f'levels (one per prior stride), got {len(x)}')
        check_level_channels(x, self.in_channels)
        return self._attend(x)

    def forward(self, x: Sequence[Tensor]) -> tuple:
        """Run the head on all pyramid levels together.

        Args:
            x (Sequence[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.

        Returns:
            tuple[list[Tensor]]: The parent's outputs (e.g. ``cls_scores``,
            ``bbox_preds``), each a list of L maps ``(N, *, H_l, W_l)``.
        """
        return self.forward_with_masks(x)[:-1]

    def forward_with_masks(self, x: Sequence[Tensor]) -> tuple:
        """:meth:`forward`, also returning the spatial masks.

        Args:
            x (Sequence[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.

        Returns:
            tuple: The outputs of :meth:`forward`, then the L spatial masks
            ``(N, 1, H_l, W_l)`` (None without spatial attention).
        """
        cls_feats, reg_feats, masks = self.attend(x)
        outs = multi_apply(self._predict_single, cls_feats, reg_feats,
                           *self._level_args())
        return (*outs, masks)

    def forward_single(self, x: Tensor, *level_args) -> tuple:
        """Run the head on one level (only without cross-level parts).

        Args:
            x (Tensor): One FPN level ``(N, in_channels, H, W)``.
            *level_args: What the parent's ``forward_single`` takes besides
                ``x`` (e.g. the level's ``Scale``).

        Returns:
            tuple: What the parent's ``forward_single`` returns.
        """
        if not self.is_level_independent:
            raise NotImplementedError(
                f'{type(self).__name__}.forward_single: CLGN and channel '
                'attention need all pyramid levels together; call forward(x) '
                'instead')
        cls_feats, reg_feats, _ = self._attend([x])
        return self._predict_single(cls_feats[0], reg_feats[0], *level_args)

    # ------------------------------------------------------------------
    # losses
    # ------------------------------------------------------------------
    def loss(self, x: Tuple[Tensor], batch_data_samples) -> dict:
        """The parent's losses, plus ``loss_sa`` with
        ``spatial_attention_loss`` set.

        Args:
            x (tuple[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``.

        Returns:
            dict: Loss components.
        """
        if self.sa_loss_weight is None:
            return super().loss(x, batch_data_samples)
        *outs, masks = self.forward_with_masks(x)
        gt_instances, gt_ignore, img_metas = unpack_gt_instances(
            batch_data_samples)
        losses = self.loss_by_feat(*outs, gt_instances, img_metas, gt_ignore)
        losses['loss_sa'] = self.spatial_attention_loss(
            masks, gt_instances, img_metas)
        return losses

    def spatial_attention_loss(self, masks: List[Tensor],
                               batch_gt_instances: InstanceList,
                               batch_img_metas: List[dict]) -> Tensor:
        """Box-wise objectness loss of the spatial masks.

        Binary cross entropy between every level's mask and 1 inside a
        ground-truth box, 0 outside (cells in the padding are left out),
        averaged over the valid cells of each level, then over levels. Not
        in the paper's equations; its Sec. II says the spatial attention
        "learns to reweight the regions with box-wise objectness scores".

        Args:
            masks (list[Tensor]): L masks ``(N, 1, H_l, W_l)`` in (0, 1).
            batch_gt_instances (list[InstanceData]): ``bboxes`` in input
                pixels.
            batch_img_metas (list[dict]): With ``img_shape`` and
                ``batch_input_shape``.

        Returns:
            Tensor: Scalar, ``loss_weight`` times the mean over levels of the
            mean binary cross entropy over valid cells.
        """
        boxes = [get_box_tensor(g.bboxes) for g in batch_gt_instances]
        targets, valids = box_objectness_targets(
            boxes, [m['img_shape'][:2] for m in batch_img_metas],
            [tuple(m.shape[-2:]) for m in masks],
            tuple(batch_img_metas[0]['batch_input_shape']))
        level_losses = []
        for mask, target, valid in zip(masks, targets, valids):
            # BCE on probabilities: the mask is what multiplies the features
            # (and what visualisation hooks record), so no logit is exposed.
            prob = mask.clamp(1e-6, 1 - 1e-6)
            bce = F.binary_cross_entropy(prob, target, reduction='none')
            level_losses.append((bce * valid).sum() /
                                valid.sum().clamp(min=1))
        return self.sa_loss_weight * torch.stack(level_losses).mean()
