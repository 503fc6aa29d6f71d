# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net's hybrid attention on the GFL head."""
from typing import Tuple

from mmcv.cnn import Scale
from mmdet.models.dense_heads import GFLHead
from mmdet.registry import MODELS
from torch import Tensor

from .hybrid_attention import HybridAttentionMixin

__all__ = ['HARGFLHead']


@MODELS.register_module()
class HARGFLHead(HybridAttentionMixin, GFLHead):
    """mmdet's :class:`GFLHead` with HAR-Net's head attention.

    The towers carry :class:`~mmattn.detection.dense_heads.hybrid_attention.
    HybridAttentionMixin`'s spatial attention, CLGN, extra conv and CLSE
    (defaults: all on, as HAR-Net's Table IV "HA" head); ``gfl_cls`` (the
    joint class-quality score) reads the cls tower, ``gfl_reg`` (the box
    distribution, times the level's ``Scale``) the reg tower, as in
    GFLHead. With ``spatial_attention=None``, ``channel_attention=None``,
    ``cross_level_norm=None`` and ``extra_conv=False`` the head computes
    exactly what GFLHead computes and loads its state dict.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of every FPN level.
        norm_cfg (dict): Norm of the tower convs; a ``GN`` config when
            ``cross_level_norm`` is set. Defaults to ``dict(type='GN',
            num_groups=32, requires_grad=True)`` (GFLHead's).
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
        **kwargs: Everything else of :class:`GFLHead` (``stacked_convs``,
            ``feat_channels``, ``reg_max``, ``anchor_generator``,
            ``init_cfg``, ...).

    Shapes:
        - Input: tuple of L tensors ``(N, in_channels, H_l, W_l)``.
        - Output: ``(cls_scores, bbox_preds)``, lists of L tensors
          ``(N, num_classes, H_l, W_l)`` and ``(N, 4 * (reg_max + 1), H_l,
          W_l)``.
    """

    def _level_args(self) -> tuple:
        return (self.scales, )

    def _predict_single(self, cls_feat: Tensor, reg_feat: Tensor,
                        scale: Scale) -> Tuple[Tensor, Tensor]:
        """GFLHead's predictors on one level.

        Args:
            cls_feat (Tensor): cls tower output ``(N, C, H, W)``.
            reg_feat (Tensor): reg tower output ``(N, C, H, W)``.
            scale (Scale): The level's learnable box scale.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (N, num_classes, H, W)`` and
            ``bbox_pred (N, 4 * (reg_max + 1), H, W)``.
        """
        cls_score = self.gfl_cls(cls_feat)
        bbox_pred = scale(self.gfl_reg(reg_feat)).float()
        return cls_score, bbox_pred
