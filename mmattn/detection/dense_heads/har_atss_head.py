# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net's hybrid attention on the ATSS head."""
from typing import Tuple

from mmcv.cnn import Scale
from mmdet.models.dense_heads import ATSSHead
from mmdet.registry import MODELS
from torch import Tensor

from .hybrid_attention import HybridAttentionMixin

__all__ = ['HARATSSHead']


@MODELS.register_module()
class HARATSSHead(HybridAttentionMixin, ATSSHead):
    """mmdet's :class:`ATSSHead` with HAR-Net's head attention.

    The towers carry :class:`~mmattn.detection.dense_heads.hybrid_attention.
    HybridAttentionMixin`'s spatial attention, CLGN, extra conv and CLSE
    (defaults: all on, as HAR-Net's Table IV "HA" head); ``atss_cls`` reads
    the cls tower, ``atss_reg`` (times the level's ``Scale``) and
    ``atss_centerness`` the reg tower, as in ATSSHead. With
    ``spatial_attention=None``, ``channel_attention=None``,
    ``cross_level_norm=None`` and ``extra_conv=False`` the head computes
    exactly what ATSSHead computes and loads its state dict.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of every FPN level.
        norm_cfg (dict): Norm of the tower convs; a ``GN`` config when
            ``cross_level_norm`` is set. Defaults to ``dict(type='GN',
            num_groups=32, requires_grad=True)`` (ATSSHead's).
        spatial_attention (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='SpatialAttention', channels=16,
            dilations=(1, 2, 5, 2, 1))``.
        channel_attention (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='CrossLevelSE', reduced_channels=32,
            pooling='max')``.
        cross_level_norm (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='CrossLevelGroupNorm', affine_per_level=False)``.
        extra_conv (bool, optional): See :class:`HybridAttentionMixin`.
            Defaults to None (on with channel attention).
        spatial_attention_loss (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to None.
        **kwargs: Everything else of :class:`ATSSHead` (``stacked_convs``,
            ``feat_channels``, ``anchor_generator``, ``init_cfg``, ...).

    Shapes:
        - Input: tuple of L tensors ``(N, in_channels, H_l, W_l)``.
        - Output: ``(cls_scores, bbox_preds, centernesses)``, lists of L
          tensors ``(N, A * num_classes, H_l, W_l)``, ``(N, A * 4, H_l,
          W_l)`` and ``(N, A, H_l, W_l)``.
    """

    def _level_args(self) -> tuple:
        return (self.scales, )

    def _predict_single(self, cls_feat: Tensor, reg_feat: Tensor,
                        scale: Scale) -> Tuple[Tensor, Tensor, Tensor]:
        """ATSSHead's predictors on one level.

        Args:
            cls_feat (Tensor): cls tower output ``(N, C, H, W)``.
            reg_feat (Tensor): reg tower output ``(N, C, H, W)``.
            scale (Scale): The level's learnable box scale.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``cls_score (N, A * num_classes,
            H, W)``, ``bbox_pred (N, A * 4, H, W)`` and ``centerness (N, A,
            H, W)``.
        """
        cls_score = self.atss_cls(cls_feat)
        # As ATSSHead: no exp on bbox_pred.
        bbox_pred = scale(self.atss_reg(reg_feat)).float()
        centerness = self.atss_centerness(reg_feat)
        return cls_score, bbox_pred, centerness
