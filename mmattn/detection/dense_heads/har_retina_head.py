# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net head: RetinaNet head with hybrid attention (Sec. IV-B, Fig. 5)."""
from typing import List, Optional, Tuple

import torch
from mmcv.ops import batched_nms
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmattn.detection.post_processing.box_voting import (
    box_voting, validate_box_voting_cfg)

from .hybrid_attention import HybridAttentionMixin

__all__ = ['HARRetinaHead']


@MODELS.register_module()
class HARRetinaHead(HybridAttentionMixin, RetinaHead):
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

    The attention is :class:`~mmattn.detection.dense_heads.hybrid_attention.
    HybridAttentionMixin`'s (shared with :class:`HARATSSHead`,
    :class:`HARGFLHead` and :class:`HARFCOSHead`); this class wires in
    RetinaHead's predictors and adds the paper's post-processing (box
    voting, decoding with given anchors, NMS over pooled candidates).

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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A bad voting config fails here, not at the first prediction.
        if self.test_cfg is not None:
            validate_box_voting_cfg(self.test_cfg.get('box_voting'))

    # ------------------------------------------------------------------
    # the RetinaHead wiring of HybridAttentionMixin
    # ------------------------------------------------------------------
    def _init_layers_without_tower(self) -> None:
        """RetinaHead's predictors, on the CLGN tower's ``feat_channels``
        (RetinaHead sizes them by its last tower conv)."""
        self.relu = torch.nn.ReLU(inplace=True)
        tower_out = self.feat_channels if self.stacked_convs > 0 \
            else self.in_channels
        self.retina_cls = torch.nn.Conv2d(
            tower_out,
            self.num_base_priors * self.cls_out_channels,
            3,
            padding=1)
        self.retina_reg = torch.nn.Conv2d(
            tower_out,
            self.num_base_priors * self.bbox_coder.encode_size,
            3,
            padding=1)

    def _predict_single(self, cls_feat: Tensor,
                        reg_feat: Tensor) -> Tuple[Tensor, Tensor]:
        """RetinaHead's predictors on one level.

        Args:
            cls_feat (Tensor): cls tower output ``(N, C, H, W)``.
            reg_feat (Tensor): reg tower output ``(N, C, H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``cls_score (N, A * num_classes, H, W)``
            and ``bbox_pred (N, A * 4, H, W)``.
        """
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
