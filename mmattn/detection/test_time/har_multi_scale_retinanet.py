# Copyright (c) mmattn contributors. All rights reserved.
"""RetinaNet with the paper's multi-scale testing (HAR-Net Sec. IV-B)."""
import copy
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet.models.detectors import RetinaNet
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import scale_boxes
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from mmattn.utils.validation import check_choice

from .pyramid_merge import (MergePlan, check_two_x_scale_factors,
                            merge_pyramid_maps, pyramid_merge_plan)

#: A head's forward output: (cls_scores, bbox_preds), lists over levels.
HeadOutputs = Sequence[List[Tensor]]

_MULTI_SCALE_DEFAULTS = dict(
    scale_factors=None, extra_scale_factors=(), cls_merge='prob')
_CLS_MERGES = ('prob', 'logit')


def merged_pyramid_priors(generator: AnchorGenerator, plan: MergePlan,
                          scale_factors: Sequence[float],
                          featmap_sizes: List[tuple],
                          dtype: torch.dtype = torch.float32,
                          device='cpu') -> List[Tensor]:
    """Anchors of the merged pyramid, in input-image pixels.

    Merged level ``i`` reuses the anchors of its first contributor
    ``(scale k, level l)`` divided by that image's factor ``f_k``; all its
    contributors have the same anchors in input pixels (see
    :mod:`.pyramid_merge`).

    Returns:
        list[Tensor]: One ``(H_i * W_i * A, 4)`` tensor per merged level.
    """
    priors = []
    for size, contributors in zip(featmap_sizes, plan):
        scale_idx, level_idx = contributors[0]
        level_priors = generator.single_level_grid_priors(
            size, level_idx=level_idx, dtype=dtype, device=device)
        inv = 1.0 / scale_factors[scale_idx]
        priors.append(scale_boxes(level_priors, (inv, inv)))
    return priors


def _check_extra_scale_factors(extra) -> List[float]:
    is_list = isinstance(extra,
                         Sequence) and not isinstance(extra, (str, bytes))
    if not is_list or any(
            isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0
            for f in extra):
        raise ValueError('extra_scale_factors must be a list of positive '
                         f'numbers, got {extra!r}')
    return [float(f) for f in extra]


@MODELS.register_module()
class HARMultiScaleRetinaNet(RetinaNet):
    """RetinaNet whose test time merges output maps of images 2x apart.

    HAR-Net (Sec. IV-B, Fig. 6) runs the network on images 2x apart; output
    maps of equal resolution (level ``l`` of the smaller image and level
    ``l + 1`` of the larger one) are averaged, the finest level of the larger
    image and the coarsest level of the smaller image pass through, and
    the merged pyramid is decoded with the anchors of its levels. Images at
    "random" scales (e.g. the paper's 500 next to 750/1500) are only
    combined at the detection level: their candidates join the merged ones
    before NMS. See :mod:`mmattn.detection.test_time.pyramid_merge` for why
    the averaged maps share anchors and why the regression deltas can be
    averaged.

    The images are made from the batch the data preprocessor produced (the
    test pipeline's resize), by bilinear resizing of the padded, normalised
    tensor, so that images 2x apart have exactly 2x the size and their
    maps line up; the resize is linear, so it commutes with normalisation.
    Training is unchanged (single scale), and without ``multi_scale`` the
    model is a plain RetinaNet.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config.
        bbox_head (dict): Head config: an ``AnchorHead`` subclass
            (``RetinaHead``, ``HARRetinaHead``) whose anchor strides and base
            sizes double from level to level.
        train_cfg (dict, optional): Training config.
        test_cfg (dict, optional): Test config of the head, plus an optional
            ``multi_scale`` dict (removed before the head sees it):

            - ``scale_factors`` (list[float]): resize factors relative to the
              preprocessed input, increasing and exactly 2x apart, e.g.
              ``[1.0, 2.0]``. Required.
            - ``extra_scale_factors`` (list[float]): factors whose detections
              are only combined (before NMS). Defaults to ``()``.
            - ``cls_merge`` (str): ``'prob'`` averages class probabilities
              (the paper), ``'logit'`` averages the raw outputs. Defaults to
              ``'prob'``. Other outputs (box deltas) are averaged raw.
        data_preprocessor (dict, optional): Data preprocessor config; use
            ``pad_size_divisor=32`` so every factor gives whole-pixel sizes.
        init_cfg (dict or list[dict], optional): Initialisation config.

    Raises:
        ValueError: At build, if ``multi_scale`` has unknown keys, scales not
            exactly 2x apart, a bad ``cls_merge``, or the head's anchors do
            not double from level to level.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        multi_scale = None
        if test_cfg is not None:
            test_cfg = copy.deepcopy(test_cfg)
            multi_scale = test_cfg.pop('multi_scale', None)
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.multi_scale_cfg = self._check_multi_scale_cfg(multi_scale)

    def _check_multi_scale_cfg(self, cfg: Optional[dict]) -> Optional[dict]:
        if cfg is None:
            return None
        if not hasattr(cfg, 'items'):
            raise TypeError(
                f'test_cfg.multi_scale must be a dict or None, got {cfg!r}')
        unknown = sorted(set(cfg) - set(_MULTI_SCALE_DEFAULTS))
        if unknown:
            raise ValueError(f'unknown test_cfg.multi_scale keys {unknown}; '
                             f'expected some of '
                             f'{sorted(_MULTI_SCALE_DEFAULTS)}')
        full = dict(_MULTI_SCALE_DEFAULTS)
        full.update(cfg)
        full['scale_factors'] = check_two_x_scale_factors(
            full['scale_factors'])
        full['extra_scale_factors'] = _check_extra_scale_factors(
            full['extra_scale_factors'])
        check_choice('cls_merge', full['cls_merge'], _CLS_MERGES)
        if full['cls_merge'] == 'prob' and getattr(
                self.bbox_head.loss_cls, 'custom_cls_channels', False):
            raise ValueError("cls_merge='prob' needs a sigmoid or softmax "
                             'head; this loss_cls has custom channels, use '
                             "cls_merge='logit'")
        self._check_anchor_generator()
        return full

    def _check_anchor_generator(self) -> None:
        generator = getattr(self.bbox_head, 'prior_generator', None)
        if not isinstance(generator, AnchorGenerator):
            raise ValueError(
                'multi-scale merging needs an anchor head (prior_generator an '
                f'AnchorGenerator), got {type(generator).__name__}')
        if generator.centers is not None:
            raise ValueError('multi-scale merging does not support explicit '
                             f'anchor centers, got {generator.centers!r}')
        strides = [tuple(s) for s in generator.strides]
        base_sizes = list(generator.base_sizes)
        for fine, coarse in zip(strides[:-1], strides[1:]):
            if coarse != (2 * fine[0], 2 * fine[1]):
                raise ValueError(
                    'merging maps of images 2x apart needs anchor strides '
                    f'that double from level to level, got {strides}')
        for fine, coarse in zip(base_sizes[:-1], base_sizes[1:]):
            if coarse != 2 * fine:
                raise ValueError(
                    'merging maps of images 2x apart needs anchor base sizes '
                    f'that double from level to level, got {base_sizes}')
        if not callable(getattr(self.bbox_head, 'nms_candidates', None)):
            raise ValueError(
                'multi-scale merging needs a head that decodes given anchors '
                '(predict_by_feat(..., mlvl_priors=...)) and runs its NMS on '
                'pooled candidates (nms_candidates), as HARRetinaHead does; '
                f'got {type(self.bbox_head).__name__}')

    @staticmethod
    def _resize_batch(inputs: Tensor, factor: float, exact: bool) -> Tensor:
        """Resize a (N, C, H, W) batch by ``factor``."""
        if factor == 1.0:
            return inputs
        height, width = inputs.shape[-2:]
        new_h, new_w = height * factor, width * factor
        if exact and not (float(new_h).is_integer()
                          and float(new_w).is_integer()):
            raise ValueError(
                f'scale factor {factor} turns the {height}x{width} input into '
                f'{new_h}x{new_w}, not whole pixels, so the maps of images 2x '
                'apart would not line up; pad the input to a multiple of 32 '
                '(data_preprocessor pad_size_divisor=32)')
        size = (max(1, int(round(new_h))), max(1, int(round(new_w))))
        return F.interpolate(
            inputs, size=size, mode='bilinear', align_corners=False)

    def _cls_to_prob(self, cls_score: Tensor) -> Tensor:
        head = self.bbox_head
        if head.use_sigmoid_cls:
            return cls_score.sigmoid()
        n, _, h, w = cls_score.shape
        return cls_score.view(n, -1, head.cls_out_channels, h,
                              w).softmax(2).view(n, -1, h, w)

    def _prob_to_cls(self, prob: Tensor) -> Tensor:
        # The head applies sigmoid/softmax again in predict_by_feat; these
        # inverses make it see exactly the averaged probabilities.
        if self.bbox_head.use_sigmoid_cls:
            return torch.logit(prob, eps=1e-6)
        return prob.clamp(min=1e-12).log()

    def merge_multi_scale_outputs(self, outs_per_scale: Sequence[HeadOutputs],
                                  plan: MergePlan) -> List[List[Tensor]]:
        """Merge the head outputs of the 2x-apart images.

        Args:
            outs_per_scale (Sequence): ``outs_per_scale[k]`` is the head
                output tuple of image ``k`` (``(cls_scores, bbox_preds)``,
                each a list over levels of ``(N, C, H, W)``).
            plan (list[list[tuple[int, int]]]): From
                :func:`pyramid_merge_plan`.

        Returns:
            list[list[Tensor]]: The merged output lists, same order as the
            head's outputs, one map per merged level (finest first).
        """
        merged_outs = []
        for out_idx in range(len(outs_per_scale[0])):
            maps = [outs[out_idx] for outs in outs_per_scale]
            if out_idx == 0 and self.multi_scale_cfg['cls_merge'] == 'prob':
                maps = [[self._cls_to_prob(m) for m in levels]
                        for levels in maps]
                merged = [
                    self._prob_to_cls(m)
                    for m in merge_pyramid_maps(maps, plan)
                ]
            else:
                merged = merge_pyramid_maps(maps, plan)
            merged_outs.append(merged)
        return merged_outs

    def predict_multi_scale(self,
                            batch_inputs: Tensor,
                            batch_img_metas: List[dict],
                            rescale: bool = True) -> List[InstanceData]:
        """Detections from the merged maps plus any extra scales.

        Args:
            batch_inputs (Tensor): Preprocessed batch, ``(N, C, H, W)``.
            batch_img_metas (list[dict]): Meta info of each image.
            rescale (bool): Return boxes in original image pixels.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (K, 4), ``scores`` (K,),
            ``labels`` (K,).
        """
        cfg = self.multi_scale_cfg
        head = self.bbox_head
        factors = cfg['scale_factors']
        outs_per_scale = [
            head(
                self.extract_feat(
                    self._resize_batch(batch_inputs, f, exact=True)))
            for f in factors
        ]
        plan = pyramid_merge_plan(len(outs_per_scale[0][0]), len(factors))
        merged_outs = self.merge_multi_scale_outputs(outs_per_scale, plan)
        extras = cfg['extra_scale_factors']
        merged_cls = merged_outs[0]
        priors = merged_pyramid_priors(
            head.prior_generator, plan, factors,
            [m.shape[-2:] for m in merged_cls], dtype=merged_cls[0].dtype,
            device=merged_cls[0].device)
        merged_results = head.predict_by_feat(
            *merged_outs,
            batch_img_metas=batch_img_metas,
            rescale=rescale if not extras else False,
            with_nms=not extras,
            mlvl_priors=priors)
        if not extras:
            return merged_results

        # Candidates of every scale in input pixels, then one NMS.
        per_image = [[res] for res in merged_results]
        for factor in extras:
            resized = self._resize_batch(batch_inputs, factor, exact=False)
            ratio_y = resized.shape[-2] / batch_inputs.shape[-2]
            ratio_x = resized.shape[-1] / batch_inputs.shape[-1]
            metas = []
            for meta in batch_img_metas:
                meta = dict(meta)
                height, width = meta['img_shape'][:2]
                meta['img_shape'] = (height * ratio_y, width * ratio_x)
                meta['scale_factor'] = (ratio_x, ratio_y)
                metas.append(meta)
            extra_results = head.predict_by_feat(
                *head(self.extract_feat(resized)),
                batch_img_metas=metas,
                rescale=True,
                with_nms=False)
            for img_results, res in zip(per_image, extra_results):
                img_results.append(res)
        return [
            head.nms_candidates(
                InstanceData.cat(img_results), meta, rescale=rescale)
            for img_results, meta in zip(per_image, batch_img_metas)
        ]

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Predict with the paper's multi-scale test if configured.

        Args:
            batch_inputs (Tensor): Preprocessed batch, ``(N, C, H, W)``.
            batch_data_samples (list[DetDataSample]): Data samples with meta
                info.
            rescale (bool): Return boxes in original image pixels.

        Returns:
            list[DetDataSample]: With ``pred_instances`` (``bboxes`` (K, 4),
            ``scores`` (K,), ``labels`` (K,)).
        """
        if self.multi_scale_cfg is None:
            return super().predict(batch_inputs, batch_data_samples, rescale)
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        results_list = self.predict_multi_scale(batch_inputs, batch_img_metas,
                                                rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)
