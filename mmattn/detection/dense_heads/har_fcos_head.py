# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net's hybrid attention on the FCOS head."""
from typing import Optional, Tuple

from mmcv.cnn import Scale
from mmdet.models.dense_heads import FCOSHead
from mmdet.registry import MODELS
from torch import Tensor

from .hybrid_attention import HybridAttentionMixin

__all__ = ['HARFCOSHead']


@MODELS.register_module()
class HARFCOSHead(HybridAttentionMixin, FCOSHead):
    """mmdet's :class:`FCOSHead` with HAR-Net's head attention.

    The towers carry :class:`~mmattn.detection.dense_heads.hybrid_attention.
    HybridAttentionMixin`'s spatial attention, CLGN, extra conv and CLSE
    (defaults: all on, as HAR-Net's Table IV "HA" head); ``conv_cls`` reads
    the cls tower, ``conv_reg`` the reg tower and ``conv_centerness`` the
    one ``centerness_on_reg`` names, with FCOSHead's ``Scale``, exp /
    ``norm_on_bbox`` handling. Under CLGN, ``dcn_on_last_conv`` still makes
    the last tower conv a DCNv2. With ``spatial_attention=None``,
    ``channel_attention=None``, ``cross_level_norm=None`` and
    ``extra_conv=False`` the head computes exactly what FCOSHead computes
    and loads its state dict.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of every FPN level.
        norm_cfg (dict): Norm of the tower convs; a ``GN`` config when
            ``cross_level_norm`` is set. Defaults to ``dict(type='GN',
            num_groups=32, requires_grad=True)`` (FCOSHead's).
        spatial_attention (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='SpatialAttention', channels=16,
            dilations=(1, 2, 5, 2, 1))``.
        channel_attention (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='CrossLevelSE', reduced_channels=32,
            pooling='max')``. With ``logit_mix`` and
            ``centerness_on_reg=False`` the centerness, which reads the cls
            tower, sees the mix too.
        cross_level_norm (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to
            ``dict(type='CrossLevelGroupNorm', affine_per_level=False)``.
        extra_conv (bool, optional): See :class:`HybridAttentionMixin`.
            Defaults to None (on with channel attention).
        spatial_attention_loss (dict, optional): See
            :class:`HybridAttentionMixin`. Defaults to None.
        **kwargs: Everything else of :class:`FCOSHead` (``stacked_convs``,
            ``feat_channels``, ``strides``, ``norm_on_bbox``,
            ``centerness_on_reg``, ``init_cfg``, ...).

    Shapes:
        - Input: tuple of L tensors ``(N, in_channels, H_l, W_l)``.
        - Output: ``(cls_scores, bbox_preds, centernesses)``, lists of L
          tensors ``(N, num_classes, H_l, W_l)``, ``(N, 4, H_l, W_l)`` and
          ``(N, 1, H_l, W_l)``.
    """

    def _tower_conv_cfg(self, index: int) -> Optional[dict]:
        if self.dcn_on_last_conv and index == self.stacked_convs - 1:
            return dict(type='DCNv2')
        return self.conv_cfg

    def _level_args(self) -> tuple:
        return (self.scales, self.strides)

    def _predict_single(self, cls_feat: Tensor, reg_feat: Tensor, scale: Scale,
                        stride: int) -> Tuple[Tensor, Tensor, Tensor]:
        """FCOSHead's predictors on one level.

        Args:
            cls_feat (Tensor): cls tower output ``(N, C, H, W)``.
            reg_feat (Tensor): reg tower output ``(N, C, H, W)``.
            scale (Scale): The level's learnable box scale.
            stride (int): The level's stride (``norm_on_bbox`` at test).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``cls_score (N, num_classes, H,
            W)``, ``bbox_pred (N, 4, H, W)`` and ``centerness (N, 1, H,
            W)``.
        """
        cls_score = self.conv_cls(cls_feat)
        bbox_pred = self.conv_reg(reg_feat)
        centerness = self.conv_centerness(
            reg_feat if self.centerness_on_reg else cls_feat)
        # As FCOSHead: float against FP16 overflow; clamp, not relu, keeps
        # bbox_pred usable for the gradient.
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred *= stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness
