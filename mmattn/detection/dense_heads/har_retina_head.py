# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net head: RetinaNet head with hybrid attention (Sec. IV-B, Fig. 5)."""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.ops import batched_nms
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmdet.models.utils import unpack_gt_instances
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.model import ModuleList
from mmengine.structures import InstanceData
from torch import Tensor

from mmattn.detection.box_objectness import box_objectness_targets
from mmattn.detection.post_processing.box_voting import (
    box_voting, validate_box_voting_cfg)
from mmattn.utils.validation import is_real

_CLGN_RESERVED = ('num_channels', 'num_groups', 'eps', 'num_levels')


@MODELS.register_module()
class HARRetinaHead(RetinaHead):
    """RetinaNet head with spatial and channel attention (HAR-Net).

    Per branch (cls and reg), for all pyramid levels ``P_l`` at once::

        t_l = P_l
        for each tower conv k (weights shared across levels):
            t_l = ReLU(CLGN_k([conv_k(t_0), ..., conv_k(t_L-1)])_l)
        t_l = t_l * SA(P_l)                        # Eq. 1, task-shared mask
        t_l = ReLU(extra_conv(t_l))
        t_l = t_l * CLSE([t_0, ..., t_L-1])         # Eq. 2, per branch
        out_l = retina_cls(t_l) or retina_reg(t_l)

    Every part can be switched off to reproduce the paper's ablations
    (Tables I, II and IV). With ``spatial_attention=None``,
    ``channel_attention=None``, ``cross_level_norm=None`` and
    ``extra_conv=False`` (the default when channel attention is off) the head
    computes exactly what :class:`RetinaHead` computes with the same
    ``norm_cfg``, and loads its state dict.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of every FPN level.
        stacked_convs (int): Tower convs per branch. Defaults to 4.
        conv_cfg (dict, optional): Conv config of the tower convs.
        norm_cfg (dict, optional): Norm of the tower convs. With
            ``cross_level_norm`` set it must be a ``GN`` config, whose
            ``num_groups``/``eps``/``requires_grad`` the CLGN layers take.
            Defaults to ``dict(type='GN', num_groups=32, requires_grad=True)``.
        spatial_attention (dict, optional): Config of the
            :class:`~mmattn.blocks.SpatialAttention` branch (``type``
            defaults to ``'SpatialAttention'``; ``in_channels`` is filled in).
            One instance, called on every level; its mask multiplies the
            output of both towers. None disables it. Defaults to
            ``dict(channels=16, dilations=(1, 2, 5, 2, 1))``.
        channel_attention (dict, optional): Channel attention after the extra
            conv, one module per branch. Keys: ``type`` (defaults to
            ``'CrossLevelSE'``), ``per_level`` (bool: one SE block per level
            that sees only its own level, the paper's SE-CA; False: CLSE),
            ``logit_mix`` (None, or ``alpha`` in (0, 1]: the cls logits are
            ``(1 - alpha) * cls(t) + alpha * cls(t * A)`` as in the authors'
            code with ``alpha=0.5``; the predictor is shared, so this equals
            scaling ``t`` by ``1 - alpha + alpha * A``); every other key
            (``reduced_channels``, ``pooling``) goes to the SE module. None
            disables it. Defaults to ``dict(type='CrossLevelSE',
            reduced_channels=32, pooling='max')``.
        cross_level_norm (dict, optional): Use
            :class:`~mmattn.blocks.CrossLevelGroupNorm` after every tower conv
            instead of ``norm_cfg`` per level. Keys: ``type`` (defaults to
            ``'CrossLevelGroupNorm'``), ``affine_per_level`` (False: the
            paper's shared scaling; True: the authors' code). None: per-level
            ``norm_cfg`` as in RetinaHead. Defaults to
            ``dict(affine_per_level=False)``.
        extra_conv (bool, optional): Add the 3x3 conv + ReLU before the
            predictors (Sec. III-D). None means "when channel attention is
            on". Defaults to None.
        spatial_attention_loss (dict, optional): Supervise the spatial mask
            as a box-wise objectness map (not in the paper's equations; its
            Sec. II says the spatial attention "learns to reweight the
            regions with box-wise objectness scores"): binary cross entropy
            between every level's mask and 1 inside a ground-truth box, 0
            outside (cells in the padding are left out), averaged over the
            valid cells of each level, then over levels. Key:
            ``loss_weight`` (default 1.0). The loss is logged as
            ``loss_sa``. None (the paper's Eq. 1 alone) leaves the mask
            trained only through the detection losses. Defaults to None.
        anchor_generator (dict): As in RetinaHead; the number of its strides
            is the number of levels the cross-level parts are built for.
        init_cfg (dict or list[dict]): As in RetinaHead: Normal(0.01) convs,
            cls bias prior 0.01. It reaches the tower convs with and without
            CLGN alike (both towers live in torch ``ModuleList``s, as
            RetinaHead's), so HAR-Net and its RetinaNet twin start from the
            same tower; the extra conv keeps ``ConvModule``'s Kaiming init
            and the attention blocks apply their own (see
            :class:`~mmattn.blocks.SpatialAttention`).
        **kwargs: Everything else of :class:`RetinaHead` / ``AnchorHead``.

    Shapes:
        - Input: tuple of L tensors ``(N, in_channels, H_l, W_l)``.
        - Output: ``(cls_scores, bbox_preds)``, lists of L tensors
          ``(N, A * num_classes, H_l, W_l)`` and ``(N, A * 4, H_l, W_l)``.

    ``test_cfg`` may add ``box_voting=dict(iou_thr=..., score_mode='max' |
    'mean' | 'mean_fixed', top_k=..., exclusive=...)`` (validated when the
    head is built): after NMS (``nms=dict(type='soft_nms', ...)`` is
    mmcv's Soft-NMS and works through mmdet's ``batched_nms``) every kept box
    is re-estimated from the pre-NMS candidates of its image (Eq. 3) by
    :func:`mmattn.detection.post_processing.box_voting.box_voting`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 stacked_convs: int = 4,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 spatial_attention: Optional[dict] = dict(
                     type='SpatialAttention',
                     channels=16,
                     dilations=(1, 2, 5, 2, 1)),
                 channel_attention: Optional[dict] = dict(
                     type='CrossLevelSE', reduced_channels=32, pooling='max'),
                 cross_level_norm: Optional[dict] = dict(
                     type='CrossLevelGroupNorm', affine_per_level=False),
                 extra_conv: Optional[bool] = None,
                 spatial_attention_loss: Optional[dict] = None,
                 **kwargs) -> None:
        # Everything is validated before RetinaHead.__init__, which builds
        # the layers through _init_layers.
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
                    'from norm_cfg, feat_channels and the anchor strides; '
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
        super().__init__(
            num_classes,
            in_channels,
            stacked_convs=stacked_convs,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            **kwargs)
        # A bad voting config fails here, not at the first prediction.
        if self.test_cfg is not None:
            validate_box_voting_cfg(self.test_cfg.get('box_voting'))

    # ------------------------------------------------------------------
    # layers
    # ------------------------------------------------------------------
    def _init_layers(self) -> None:
        """Build RetinaHead's layers, then the attention parts."""
        self.num_levels = self.prior_generator.num_levels
        if self.cross_level_norm_cfg is None:
            super()._init_layers()
            self.cls_norms = self.reg_norms = None
        else:
            self._init_clgn_towers()

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

    def _init_clgn_towers(self) -> None:
        """Tower convs without their own norm, each followed by one CLGN."""
        self.relu = torch.nn.ReLU(inplace=True)
        norm_cfg = self.norm_cfg
        clgn_cfg = dict(self.cross_level_norm_cfg)
        clgn_cfg.setdefault('type', 'CrossLevelGroupNorm')
        clgn_cfg.update(
            num_groups=norm_cfg.get('num_groups'),
            eps=norm_cfg.get('eps', 1e-5),
            num_channels=self.feat_channels,
            num_levels=self.num_levels)
        # torch's ModuleList, as RetinaHead's towers: an mmengine ModuleList
        # would call each ConvModule's own Kaiming init after the head's
        # Normal(0.01), and the twins would start differently.
        self.cls_convs = torch.nn.ModuleList()
        self.reg_convs = torch.nn.ModuleList()
        self.cls_norms = torch.nn.ModuleList()
        self.reg_norms = torch.nn.ModuleList()
        in_channels = self.in_channels
        for _ in range(self.stacked_convs):
            for convs, norms in ((self.cls_convs, self.cls_norms),
                                 (self.reg_convs, self.reg_norms)):
                # The CLGN shift makes a conv bias redundant.
                convs.append(
                    ConvModule(
                        in_channels,
                        self.feat_channels,
                        3,
                        padding=1,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=None,
                        act_cfg=None,
                        bias=False))
                norm = MODELS.build(clgn_cfg)
                if not norm_cfg.get('requires_grad', True):
                    for param in norm.parameters():
                        param.requires_grad = False
                norms.append(norm)
            in_channels = self.feat_channels
        self.retina_cls = torch.nn.Conv2d(
            in_channels,
            self.num_base_priors * self.cls_out_channels,
            3,
            padding=1)
        self.retina_reg = torch.nn.Conv2d(
            in_channels,
            self.num_base_priors * self.bbox_coder.encode_size,
            3,
            padding=1)

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

    def forward(
            self,
            x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Run the head on all pyramid levels together.

        Args:
            x (Sequence[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.

        Returns:
            tuple[list[Tensor], list[Tensor]]: ``cls_scores`` (L tensors
            ``(N, A * num_classes, H_l, W_l)``) and ``bbox_preds`` (L tensors
            ``(N, A * 4, H_l, W_l)``).
        """
        cls_scores, bbox_preds, _ = self.forward_with_masks(x)
        return cls_scores, bbox_preds

    def forward_with_masks(
        self, x: Sequence[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], Optional[List[Tensor]]]:
        """:meth:`forward`, also returning the spatial masks.

        Args:
            x (Sequence[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.

        Returns:
            tuple: ``cls_scores``, ``bbox_preds`` as :meth:`forward`, and
            the L spatial masks ``(N, 1, H_l, W_l)`` (None without spatial
            attention).
        """
        x = list(x)
        if len(x) != self.num_levels:
            raise ValueError(
                f'HARRetinaHead was built for {self.num_levels} levels (one '
                f'per anchor stride), got {len(x)}')
        channels = [f.shape[1] if f.dim() == 4 else None for f in x]
        if any(c != self.in_channels for c in channels):
            raise ValueError(
                f'every level must be (N, {self.in_channels}, H, W), got '
                f'shapes {[tuple(f.shape) for f in x]}')
        cls_feats = self._tower(x, self.cls_convs, self.cls_norms)
        reg_feats = self._tower(x, self.reg_convs, self.reg_norms)

        masks = None
        if self.spatial_attention is not None:
            masks = [self.spatial_attention(f) for f in x]
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
                # the shared linear predictor (bias included).
                alpha = self.logit_mix
                cls_weights = [1 - alpha + alpha * w for w in cls_weights]
            cls_feats = [f * w for f, w in zip(cls_feats, cls_weights)]
            reg_feats = [f * w for f, w in zip(reg_feats, reg_weights)]

        cls_scores = [self.retina_cls(f) for f in cls_feats]
        bbox_preds = [self.retina_reg(f) for f in reg_feats]
        return cls_scores, bbox_preds, masks

    def loss(self, x: Tuple[Tensor], batch_data_samples) -> dict:
        """RetinaHead's losses, plus ``loss_sa`` with
        ``spatial_attention_loss`` set.

        Args:
            x (tuple[Tensor]): L FPN levels ``(N, in_channels, H_l, W_l)``.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``.

        Returns:
            dict: Loss components.
        """
        if self.sa_loss_weight is None:
            return super().loss(x, batch_data_samples)
        cls_scores, bbox_preds, masks = self.forward_with_masks(x)
        gt_instances, gt_ignore, img_metas = unpack_gt_instances(
            batch_data_samples)
        losses = self.loss_by_feat(cls_scores, bbox_preds, gt_instances,
                                   img_metas, gt_ignore)
        losses['loss_sa'] = self.spatial_attention_loss(
            masks, gt_instances, img_metas)
        return losses

    def spatial_attention_loss(self, masks: List[Tensor],
                               batch_gt_instances: InstanceList,
                               batch_img_metas: List[dict]) -> Tensor:
        """Box-wise objectness loss of the spatial masks.

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

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Run the head on one level (only without cross-level parts).

        Args:
            x (Tensor): One FPN level ``(N, in_channels, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (N, A * num_classes, H, W)``
            and ``bbox_pred (N, A * 4, H, W)``.
        """
        if not self.is_level_independent:
            raise NotImplementedError(
                'HARRetinaHead.forward_single: CLGN and channel attention '
                'need all pyramid levels together; call forward(x) instead')
        cls_feat = self._tower([x], self.cls_convs, None)[0]
        reg_feat = self._tower([x], self.reg_convs, None)[0]
        if self.spatial_attention is not None:
            mask = self.spatial_attention(x)
            cls_feat, reg_feat = cls_feat * mask, reg_feat * mask
        if self.with_extra_conv:
            cls_feat = self.cls_extra_conv(cls_feat)
            reg_feat = self.reg_extra_conv(reg_feat)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)

    # ------------------------------------------------------------------
    # post-processing
    # ------------------------------------------------------------------
    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True,
                        mlvl_priors: Optional[List[Tensor]] = None
                        ) -> InstanceList:
        """mmdet's decoding, optionally with the anchors given.

        Args:
            cls_scores (list[Tensor]): L maps ``(N, A * num_classes, H_l,
                W_l)``.
            bbox_preds (list[Tensor]): L maps ``(N, A * 4, H_l, W_l)``.
            score_factors (list[Tensor], optional): Unused by RetinaNet.
            batch_img_metas (list[dict]): Meta info of each image.
            cfg (ConfigDict, optional): Test config; the head's by default.
            rescale (bool): Map boxes back to the original images.
            with_nms (bool): Run NMS (and box voting).
            mlvl_priors (list[Tensor], optional): L anchor tensors
                ``(H_l * W_l * A, 4)`` in input pixels, in the order
                mmdet's prior generator uses. None: the head's own anchors
                for these map sizes (mmdet's behaviour). The paper's
                multi-scale test passes the anchors of a merged pyramid.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (K, 4), ``scores``
            (K,), ``labels`` (K,).
        """
        if mlvl_priors is None:
            return super().predict_by_feat(
                cls_scores, bbox_preds, score_factors=score_factors,
                batch_img_metas=batch_img_metas, cfg=cfg, rescale=rescale,
                with_nms=with_nms)
        from mmdet.models.utils import select_single_mlvl
        if len(mlvl_priors) != len(cls_scores):
            raise ValueError(f'{len(mlvl_priors)} prior levels for '
                             f'{len(cls_scores)} score maps')
        results = []
        for img_id, img_meta in enumerate(batch_img_metas):
            results.append(
                self._predict_by_feat_single(
                    cls_score_list=select_single_mlvl(
                        cls_scores, img_id, detach=True),
                    bbox_pred_list=select_single_mlvl(
                        bbox_preds, img_id, detach=True),
                    score_factor_list=[None] * len(cls_scores),
                    mlvl_priors=mlvl_priors,
                    img_meta=img_meta,
                    cfg=cfg,
                    rescale=rescale,
                    with_nms=with_nms))
        return results

    def nms_candidates(self,
                       candidates: InstanceData,
                       img_meta: dict,
                       cfg: Optional[ConfigDict] = None,
                       rescale: bool = True) -> InstanceData:
        """The head's test-time NMS (and box voting) over candidates of one
        image pooled from several decodings (e.g. several test scales).

        Args:
            candidates (InstanceData): ``bboxes`` (K, 4) in input pixels of
                ``img_meta``, ``scores`` (K,), ``labels`` (K,).
            img_meta (dict): Meta info of the image (``scale_factor`` for
                ``rescale``).
            cfg (ConfigDict, optional): Test config; the head's by default.
            rescale (bool): Map boxes back to the original image.

        Returns:
            InstanceData: Detections with ``bboxes``, ``scores``, ``labels``.
        """
        return self._bbox_post_process(
            candidates, cfg if cfg is not None else self.test_cfg,
            rescale=rescale, with_nms=True, img_meta=img_meta)

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigDict,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        """mmdet's post-processing plus optional box voting after NMS.

        Without ``cfg.box_voting`` (a dict) this is exactly the parent
        method. With it, the pre-NMS candidates (after rescaling and the
        size filter) are kept, NMS (or Soft-NMS) runs as usual, and the kept
        boxes and scores are replaced by ``box_voting(...)`` over the
        candidates of this image.

        Args:
            results (InstanceData): Candidates of one image with ``bboxes``
                (K, 4), ``scores`` (K,) and ``labels`` (K,).
            cfg (ConfigDict): Test config.
            rescale (bool): Map boxes back to the original image.
            with_nms (bool): Run NMS (and voting).
            img_meta (dict, optional): Meta info of the image.

        Returns:
            InstanceData: Detections with ``bboxes``, ``scores``, ``labels``.
        """
        voting_cfg = cfg.get('box_voting')
        if voting_cfg is None or not with_nms:
            return super()._bbox_post_process(
                results, cfg, rescale=rescale, with_nms=with_nms,
                img_meta=img_meta)
        # test_cfg may be changed after build (e.g. by tools/test.py options)
        voting_cfg = validate_box_voting_cfg(voting_cfg)

        candidates = super()._bbox_post_process(
            results, cfg, rescale=rescale, with_nms=False, img_meta=img_meta)
        if candidates.bboxes.numel() == 0:
            return candidates
        cand_bboxes = get_box_tensor(candidates.bboxes)
        det_bboxes, keep = batched_nms(cand_bboxes, candidates.scores,
                                       candidates.labels, cfg.nms)
        dets = candidates[keep]
        # Soft-NMS re-weights the scores.
        dets.scores = det_bboxes[:, -1]
        dets = dets[:cfg.max_per_img]
        voted_bboxes, voted_scores = box_voting(
            get_box_tensor(dets.bboxes), dets.scores, dets.labels,
            cand_bboxes, candidates.scores, candidates.labels,
            **voting_cfg)
        dets.bboxes = voted_bboxes
        dets.scores = voted_scores
        return dets
