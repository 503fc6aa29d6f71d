# Copyright (c) mmattn contributors. All rights reserved.
"""A multi-label image classifier trained from image tags whose inference
output is class activation maps (CAM; Zhou et al., *Learning Deep Features
for Discriminative Localization*, CVPR 2016, in the form IRN/SEAM use): the
first stage of weakly supervised segmentation from tags alone."""
from numbers import Real
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from mmattn.utils.validation import (check_bool, check_positive_int, is_int,
                                     is_real)
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

__all__ = ['MultiLabelCAMClassifier', 'normalize_cams']

DEFAULT_TEST_CFG = dict(
    scales=(1.0, 0.5, 1.5, 2.0), flip=True, bg_threshold=0.15, score_thr=0.5)


def normalize_cams(cams: Tensor, keep: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-class max normalisation of ReLU'd class activation maps.

    Args:
        cams (Tensor): ``(K, H, W)`` non-negative maps.
        keep (Tensor): ``(K,)`` 0/1 (or bool): the classes to keep; the
            others become 0.
        eps (float): A map whose maximum is below ``eps`` stays as it is
            (all but zero) instead of being blown up. Default: 1e-5.

    Returns:
        Tensor: ``(K, H, W)`` in ``[0, 1]``; a kept class with a maximum of
        at least ``eps`` has maximum exactly 1.
    """
    peak = cams.flatten(1).max(dim=1).values.clamp_min(eps)
    return cams / peak[:, None, None] * keep.to(cams.dtype)[:, None, None]


@MODELS.register_module()
class MultiLabelCAMClassifier(BaseSegmentor):
    """Multi-label classifier from image tags that outputs class activation
    maps (CAM) at inference.

    ``features = backbone(img)[in_index]`` (any mmseg backbone that returns
    a tuple of maps, e.g. ``ResNetV1c`` at output stride 16 as IRN/SEAM
    use). The classifier is a 1x1 convolution without bias, ``W``:

    - image logits: ``W @ GAP(features)``, trained with ``loss_cls``
      (multi-label BCE on the tags by default);
    - CAM of class ``k``: ``ReLU(W_k @ features)`` at every position (the
      logits are the spatial mean of the maps before the ReLU).

    Input / output contract:

    - ``mode='loss'``: ``inputs`` ``(N, 3, H, W)`` from the data
      preprocessor; every data sample's metainfo holds ``img_tags``, a
      ``(num_classes - 1,)`` 0/1 float tensor (``WeakVOCDataset`` +
      ``PackWeakSegInputs``, tags from ``cls_labels.npy``). Returns
      ``{loss_name: scalar}`` (``loss_cls``).
    - ``mode='tensor'``: returns ``(logits (N, K), cam_logits (N, K, h,
      w))``, ``K = num_classes - 1``, ``h, w`` the feature size, before the
      ReLU; one scale, no flip.
    - ``mode='predict'``: for each image, the CAMs of all ``test_cfg.scales``
      (the input resized by each factor) and, with ``test_cfg.flip``, of
      their horizontal flips (flipped back) are ReLU'd, resized to the
      input size and summed; the sum is cropped to the image (padding
      removed), resized to ``ori_shape`` ``(H0, W0)`` and normalised per
      class by its maximum. Only the image's classes are kept: its
      ``img_tags`` when the metainfo has them, else the classes whose mean
      score ``sigmoid(logit)`` over the views is at least
      ``test_cfg.score_thr``. Each returned ``SegDataSample`` holds

      - ``cams`` (``PixelData``, ``(K, H0, W0)``): in ``[0, 1]``, maximum
        exactly 1 for each kept class (unless its map is all zero), 0 for
        every other class; channel ``k`` is class ``k + 1``;
      - ``cam_tags`` (``(K,)`` float): the kept classes;
      - ``cls_scores`` (``(K,)`` float): the mean class scores;
      - ``seg_logits`` (``PixelData``, ``(num_classes, H0, W0)``):
        ``test_cfg.bg_threshold`` as the background channel 0, then the
        CAMs; ``pred_sem_seg`` (``(1, H0, W0)``): their argmax, the seed
        segmentation that mmseg's ``IoUMetric`` scores (a simple
        background threshold for evaluating the CAMs, not a proxy mask
        recipe).

    Args:
        backbone (dict): Backbone config (mmseg ``MODELS``).
        in_channels (int): Channels of the backbone output ``in_index``
            (ResNet-18/34: 512, ResNet-50/101: 2048).
        num_classes (int): Classes with the background (VOC: 21); the
            classifier has ``num_classes - 1`` outputs, one per tag entry.
        in_index (int): Which backbone output to use. Default: -1.
        dropout_ratio (float): Dropout on the pooled features in training,
            in ``[0, 1)``. Default: 0.
        loss_cls (dict): Loss on ``(N, K)`` logits and ``(N, K)`` tags,
            with a ``loss_name``. Default: ``AttentionLoss`` in ``'bce'``
            mode with weight 1 named ``loss_cls`` (``mean_{i,k}`` of the
            sigmoid binary cross entropy).
        train_cfg (dict, optional): Unused; accepted for the config layout
            of mmseg's segmentors.
        test_cfg (dict, optional): ``scales`` (positive factors, default
            ``(1.0, 0.5, 1.5, 2.0)``), ``flip`` (default True),
            ``bg_threshold`` (in ``[0, 1]``, default 0.15) and
            ``score_thr`` (in ``[0, 1]``, default 0.5); missing keys take
            the defaults.
        data_preprocessor (dict, optional): A ``SegDataPreProcessor``.
        pretrained (str, optional): Backbone weights, set as the backbone's
            ``pretrained`` (as mmseg's ``EncoderDecoder`` does); None
            trains from random initialisation (offline). Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 dropout_ratio: float = 0.0,
                 loss_cls: ConfigType = dict(
                     type='AttentionLoss',
                     mode='bce',
                     loss_weight=1.0,
                     loss_name='loss_cls'),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.in_channels = check_positive_int('in_channels', in_channels)
        if not is_int(num_classes) or num_classes < 2:
            raise ValueError('num_classes (with the background) must be an '
                             f'int >= 2, got {num_classes!r}')
        self.num_classes = int(num_classes)
        if not is_int(in_index):
            raise ValueError(f'in_index must be an int, got {in_index!r}')
        self.in_index = int(in_index)
        if not is_real(dropout_ratio) or not 0 <= dropout_ratio < 1:
            raise ValueError('dropout_ratio must be a number in [0, 1), got '
                             f'{dropout_ratio!r}')
        if pretrained is not None:
            backbone = dict(backbone, pretrained=pretrained)
        self.backbone = MODELS.build(backbone)
        self.dropout = (
            nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity())
        self.classifier = nn.Conv2d(
            self.in_channels, self.num_classes - 1, 1, bias=False)
        nn.init.xavier_uniform_(self.classifier.weight)
        self.loss_cls = MODELS.build(loss_cls)
        self.train_cfg = train_cfg
        self.test_cfg = self._check_test_cfg(test_cfg)
        # BaseSegmentor's helpers read it.
        self.align_corners = False

    @staticmethod
    def _check_test_cfg(test_cfg: OptConfigType) -> dict:
        cfg = dict(DEFAULT_TEST_CFG)
        cfg.update(dict(test_cfg or {}))
        unknown = sorted(set(cfg) - set(DEFAULT_TEST_CFG) - {'mode'})
        if unknown:
            raise ValueError(f'test_cfg has unknown keys {unknown}; known: '
                             f'{sorted(DEFAULT_TEST_CFG)}')
        scales = cfg['scales']
        if isinstance(scales, Real):
            scales = (scales, )
        if (not isinstance(scales, Sequence) or not scales
                or not all(is_real(s) and s > 0 for s in scales)):
            raise ValueError('test_cfg.scales must be a non-empty list of '
                             f'positive numbers, got {cfg["scales"]!r}')
        cfg['scales'] = tuple(float(s) for s in scales)
        cfg['flip'] = check_bool('test_cfg.flip', cfg['flip'])
        for key in ('bg_threshold', 'score_thr'):
            if not is_real(cfg[key]) or not 0 <= cfg[key] <= 1:
                raise ValueError(f'test_cfg.{key} must be a number in [0, 1], '
                                 f'got {cfg[key]!r}')
            cfg[key] = float(cfg[key])
        return cfg

    @property
    def num_tags(self) -> int:
        """Tag entries per image: ``num_classes - 1``."""
        return self.num_classes - 1

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """The backbone's output ``in_index``.

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.

        Returns:
            Tensor: ``(N, in_channels, h, w)``.
        """
        feats = self.backbone(inputs)
        if isinstance(feats, (list, tuple)):
            feats = feats[self.in_index]
        if feats.dim() != 4 or feats.shape[1] != self.in_channels:
            raise ValueError(
                f'the backbone output {self.in_index} has shape '
                f'{tuple(feats.shape)}, but in_channels is '
                f'{self.in_channels}; set in_channels (and in_index) to the '
                "backbone's")
        return feats

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[SampleList] = None
                 ) -> Tuple[Tensor, Tensor]:
        """Image logits and CAM logits of one scale.

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.
            data_samples: Unused.

        Returns:
            tuple: ``logits`` ``(N, K)`` and ``cam_logits`` ``(N, K, h,
            w)`` (before the ReLU; their spatial mean is ``logits``).
        """
        feats = self.extract_feat(inputs)
        pooled = self.dropout(feats.mean(dim=(2, 3), keepdim=True))
        logits = self.classifier(pooled).flatten(1)
        cam_logits = F.conv2d(feats, self.classifier.weight)
        return logits, cam_logits

    def _batch_tags(self, data_samples: SampleList) -> Tensor:
        tags = []
        for sample in data_samples:
            if 'img_tags' not in sample.metainfo:
                raise KeyError(
                    f'{sample.metainfo.get("img_path", "<image>")}: no '
                    'img_tags in the data sample; train from tags with '
                    'WeakVOCDataset (tag_file) and PackWeakSegInputs')
            tags.append(self._check_tags(sample))
        return torch.stack(tags)

    def _check_tags(self, sample: SegDataSample) -> Tensor:
        tag = torch.as_tensor(sample.metainfo['img_tags']).float().flatten()
        if tag.numel() != self.num_tags:
            raise ValueError(
                f'{sample.metainfo.get("img_path", "<image>")}: '
                f'{tag.numel()} image tags, but the model has '
                f'{self.num_tags} foreground classes (num_classes '
                f'{self.num_classes} with the background)')
        return tag

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Multi-label loss of the image logits against the tags.

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.
            data_samples (list[SegDataSample]): With ``img_tags`` ``(K,)``
                in the metainfo.

        Returns:
            dict: ``{loss_cls.loss_name: scalar}``.
        """
        tags = self._batch_tags(data_samples).to(inputs.device)
        logits, _ = self._forward(inputs)
        return {self.loss_cls.loss_name: self.loss_cls(logits, tags)}

    def multi_scale_cams(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """CAMs of every scale and flip of ``test_cfg``, summed at the
        input size.

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.

        Returns:
            tuple: ``cams`` ``(N, K, H, W)``, the sum over the views of
            ``ReLU(cam_logits)`` resized (bilinear) to ``(H, W)``, a flipped
            view flipped back first; ``scores`` ``(N, K)``, the mean of
            ``sigmoid(logits)`` over the views.
        """
        n, _, h, w = inputs.shape
        flip = self.test_cfg['flip']
        cams = inputs.new_zeros(n, self.num_tags, h, w)
        scores = inputs.new_zeros(n, self.num_tags)
        views = 0
        for scale in self.test_cfg['scales']:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = inputs if size == (h, w) else F.interpolate(
                inputs, size=size, mode='bilinear', align_corners=False)
            if flip:
                x = torch.cat([x, x.flip(-1)])
            logits, cam_logits = self._forward(x)
            cam = F.relu(cam_logits)
            prob = logits.sigmoid()
            if flip:
                cam = cam[:n] + cam[n:].flip(-1)
                prob = prob[:n] + prob[n:]
            cams += F.interpolate(
                cam, size=(h, w), mode='bilinear', align_corners=False)
            scores += prob
            views += 2 if flip else 1
        return cams, scores / views

    def encode_decode(self,
                      inputs: Tensor,
                      batch_img_metas: Optional[List[dict]] = None) -> Tensor:
        """The summed multi-scale CAMs ``(N, K, H, W)`` at the input size
        (:meth:`multi_scale_cams`), not normalised."""
        return self.multi_scale_cams(inputs)[0]

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Class activation maps of each image (see the class docstring).

        Args:
            inputs (Tensor): ``(N, 3, H, W)``.
            data_samples (list[SegDataSample], optional): Metainfo with
                ``ori_shape`` and optionally ``img_tags``, ``padding_size``
                and ``flip``. None: the input size, predicted classes.

        Returns:
            list[SegDataSample]: With ``cams``, ``cam_tags``,
            ``cls_scores``, ``seg_logits`` and ``pred_sem_seg``.
        """
        n, _, h, w = inputs.shape
        if data_samples is None:
            data_samples = [
                SegDataSample(
                    metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
                for _ in range(n)
            ]
        cams, scores = self.multi_scale_cams(inputs)
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            left, right, top, bottom = meta.get(
                'img_padding_size', meta.get('padding_size', [0] * 4))
            cam = cams[i:i + 1, :, top:h - bottom, left:w - right]
            if meta.get('flip', False):
                cam = cam.flip(-1 if meta.get('flip_direction') ==
                               'horizontal' else -2)
            ori_shape = tuple(meta.get('ori_shape', cam.shape[2:]))[:2]
            cam = F.interpolate(
                cam, size=ori_shape, mode='bilinear', align_corners=False)[0]
            if 'img_tags' in meta:
                keep = self._check_tags(sample).to(cam.device)
            else:
                keep = (scores[i] >= self.test_cfg['score_thr']).float()
            cam = normalize_cams(cam, keep)
            background = cam.new_full((1, ) + cam.shape[1:],
                                      self.test_cfg['bg_threshold'])
            seg_logits = torch.cat([background, cam])
            sample.set_data(
                dict(
                    cams=PixelData(data=cam),
                    seg_logits=PixelData(data=seg_logits),
                    pred_sem_seg=PixelData(
                        data=seg_logits.argmax(dim=0, keepdim=True)),
                    cam_tags=keep,
                    cls_scores=scores[i]))
        return data_samples
