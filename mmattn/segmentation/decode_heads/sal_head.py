# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net decode head: DeepLab segmentation branch + classification
subnetwork, trained with the selection and attention losses (paper
Sec. III-C, III-D, Eq. 10-14)."""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.models.decode_heads.aspp_head import ASPPHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList

from mmattn.utils.validation import check_choice, check_dilations

from .classification_branch import build_classification_branch
from .deeplabv2_aspp import DeepLabV2ASPP

_SEG_BRANCHES = ('aspp', 'aspp_l', 'largefov')
_DEFAULT_DILATIONS = {
    'aspp': (1, 6, 12, 18),
    'aspp_l': (6, 12, 18, 24),
    'largefov': (12, ),
}

SegOutput = Union[Tensor, Tuple[Tensor, Optional[Tensor]]]


@MODELS.register_module()
class SALHead(ASPPHead):
    """SAL-Net head: segmentation branch, classification subnetwork and the
    attention-guided probabilities of Eq. 11.

    Segmentation branch (``seg_branch``):

    - ``'aspp'`` (default): DeepLabV3 ASPP exactly as mmseg's ``ASPPHead``
      (image pooling, parallel atrous convs, bottleneck, ``conv_seg``).
    - ``'aspp_l'``: DeepLab-v2 ASPP-L, parallel dilated classifiers (rates
      6/12/18/24) whose logits are summed (see :class:`DeepLabV2ASPP`).
    - ``'largefov'``: DeepLab-v2 LargeFOV, one such classifier (rate 12).

    Classification subnetwork (``cls_branch``, :class:`
    SALClassificationBranch`): logits ``x`` over the ``K = num_classes - 1``
    foreground classes from the same backbone feature; ``d_s = sigmoid(x)``
    (Eq. 10).

    Attention-guided probabilities (Eq. 11, ``attention_guided=True``):
    ``Z = softmax(seg_logits)`` over all ``num_classes`` channels and

    .. math::

        \\hat{Z}^0 = Z^0 \\cdot 1, \\qquad
        \\hat{Z}^{k} = Z^{k} \\cdot d_s^{k-1} \\quad (k = 1..K)

    i.e. the product is taken on softmax probabilities, channel ``k`` of the
    segmentation output is scaled by the score of foreground class ``k``
    (tag index ``k - 1``, the ``cls_labels.npy`` convention), and the
    background channel (index 0), which has no tag, keeps factor 1. The
    selection loss (Eq. 13) is the negative log of ``Z_hat`` at the proxy
    label, computed in log space as ``log_softmax(seg_logits) +
    logsigmoid(x)`` (no clamp needed). ``Z_hat`` is not renormalised, as in
    the paper; then the segmentation logits get exactly the cross-entropy
    gradient and the extra ``-log d_s^c`` term trains the classification
    branch towards the classes present in the proxy mask. With
    ``attention_normalize=True`` ``Z_hat`` is renormalised over channels
    (``softmax(seg_logits + log d_s)``), so ``d_s`` also suppresses absent
    classes in the segmentation gradient.

    Inference returns ordinary segmentation logits (``Z``), so every mmseg
    metric, TTA and visualiser works unchanged; with
    ``test_with_attention=True`` it returns ``log Z_hat`` instead (argmax of
    ``Z_hat``).

    Losses (``loss_by_feat``): every loss in ``loss_decode`` that has a
    ``loss_with_stats`` method (:class:`SelectionLoss`) gets ``log Z_hat``
    (or the logits without attention) and the data samples' metainfo, from
    which it reads its per-image ``mask_scores``; it returns its loss and
    the statistics that the head logs (``sel_frac``). Any other mmseg loss
    gets the plain logits. ``loss_attention``
    (:class:`AttentionLoss`, Eq. 12, ``lambda`` = its ``loss_weight``) gets
    the classification logits and the ``img_tags`` of the metainfo. Both
    metainfo keys are put there by ``WeakVOCDataset`` + ``PackWeakSegInputs``.

    Args:
        seg_branch (str): ``'aspp'``, ``'aspp_l'`` or ``'largefov'``.
            Default: 'aspp'.
        dilations (Sequence[int], optional): Rates of the segmentation
            branch; None picks (1, 6, 12, 18), (6, 12, 18, 24) or (12, ).
        v2_num_hidden_convs (int): For ``'aspp_l'``/``'largefov'``: hidden
            convs per branch (0: DeepLab-v2 ResNet, one dilated classifier;
            2: DeepLab-v2 VGG16 fc6/fc7/fc8 of width ``channels``).
            Default: 0.
        cls_branch (dict, optional): Config of the classification
            subnetwork; ``in_channels`` and ``num_classes`` are filled in.
            None disables it (then no attention loss and no Eq. 11).
        attention_guided (bool): Use ``Z_hat`` (Eq. 11/13) in the selection
            loss. Default: True.
        attention_normalize (bool): Renormalise ``Z_hat`` over channels.
            Default: False (the paper).
        loss_attention (dict, optional): Config of the attention loss; None
            disables it. Default: ``AttentionLoss`` with lambda 2.
        test_with_attention (bool): Return ``log Z_hat`` at inference.
            Default: False.
        loss_decode (dict | list[dict]): Segmentation losses. Default:
            ``SelectionLoss`` on SF with tau 0.55.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``dropout_ratio``, ...).

    Shapes:
        ``forward``: ``inputs`` multi-level features -> ``(N, num_classes,
        H/8, W/8)`` logits (output stride of the backbone).
    """

    def __init__(self,
                 seg_branch: str = 'aspp',
                 dilations: Optional[Sequence[int]] = None,
                 v2_num_hidden_convs: int = 0,
                 cls_branch: OptConfigType = dict(
                     type='SALClassificationBranch',
                     channels=256,
                     dilations=(1, 3, 6, 9),
                     fusion='sum',
                     with_fc=False,
                     dropout_ratio=0.5),
                 attention_guided: bool = True,
                 attention_normalize: bool = False,
                 loss_attention: OptConfigType = dict(
                     type='AttentionLoss', mode='bce', loss_weight=2.0),
                 test_with_attention: bool = False,
                 loss_decode: Union[ConfigType, List[ConfigType]] = dict(
                     type='SelectionLoss', score_key='SF', tau=0.55),
                 **kwargs) -> None:
        check_choice('seg_branch', seg_branch, _SEG_BRANCHES)
        if dilations is None:
            dilations = _DEFAULT_DILATIONS[seg_branch]
        check_dilations(dilations)
        num_classes = kwargs.get('num_classes')
        if (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                or num_classes < 2):
            raise ValueError('num_classes must be an int >= 2 (background + '
                             f'foreground classes), got {num_classes!r}')
        if kwargs.get('sampler') is not None:
            raise ValueError('SALHead does not support a pixel sampler: the '
                             'selection loss weights whole images, got '
                             f'sampler={kwargs["sampler"]!r}')
        if cls_branch is None and (attention_guided or test_with_attention):
            raise ValueError(
                'attention_guided / test_with_attention need the '
                'classification subnetwork, but cls_branch is None; set '
                'attention_guided=False, test_with_attention=False')
        if cls_branch is None and loss_attention is not None:
            raise ValueError('loss_attention needs the classification '
                             'subnetwork, but cls_branch is None; set '
                             'loss_attention=None')
        if (cls_branch is not None and not attention_guided
                and loss_attention is None):
            # Nothing would train it, and DDP fails on unused parameters.
            raise ValueError(
                'cls_branch is set but neither attention_guided nor '
                'loss_attention uses it; set cls_branch=None')

        if seg_branch == 'aspp':
            super().__init__(
                dilations=tuple(dilations), loss_decode=loss_decode, **kwargs)
        else:
            # DeepLab-v2 has neither the image pooling nor the bottleneck of
            # ASPPHead: skip ASPPHead.__init__ so no unused (DDP-breaking)
            # parameters are built.
            BaseDecodeHead.__init__(self, loss_decode=loss_decode, **kwargs)
            self.dilations = tuple(dilations)
            # The summed DeepLab-v2 classifiers take the place of conv_seg,
            # so BaseDecodeHead's init_cfg (override name='conv_seg') and
            # checkpoints keep their usual key.
            self.conv_seg = DeepLabV2ASPP(
                in_channels=self.in_channels,
                channels=self.channels,
                num_classes=self.out_channels,
                dilations=tuple(dilations),
                num_hidden_convs=v2_num_hidden_convs,
                dropout_ratio=self.dropout_ratio,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
            # Dropout lives inside the DeepLab-v2 branches.
            self.dropout = None
        self.seg_branch = seg_branch
        if self.out_channels != self.num_classes:
            raise ValueError('SALHead needs one output channel per class '
                             f'(out_channels={self.out_channels}, '
                             f'num_classes={self.num_classes})')
        self.num_fg_classes = self.num_classes - 1
        self.cls_branch = build_classification_branch(
            cls_branch,
            in_channels=self.in_channels,
            num_classes=self.num_fg_classes)
        self.attention_guided = bool(attention_guided)
        self.attention_normalize = bool(attention_normalize)
        self.test_with_attention = bool(test_with_attention)
        self.loss_attention = (
            MODELS.build(loss_attention)
            if loss_attention is not None else None)

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    def _forward_seg(self, inputs: Sequence[Tensor]) -> Tensor:
        if self.seg_branch == 'aspp':
            return self.cls_seg(self._forward_feature(inputs))
        return self.conv_seg(self._transform_inputs(inputs))

    def forward_train(
            self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Segmentation logits and classification logits.

        Args:
            inputs (Sequence[Tensor]): Multi-level backbone features.

        Returns:
            tuple: ``seg_logits`` ``(N, num_classes, h, w)`` and
            ``cls_logits`` ``(N, num_classes - 1)`` (None without
            classification branch).
        """
        seg_logits = self._forward_seg(inputs)
        cls_logits = None
        if self.cls_branch is not None:
            cls_logits = self.cls_branch(self._transform_inputs(inputs))
        return seg_logits, cls_logits

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Segmentation logits used at inference.

        Returns:
            Tensor: ``(N, num_classes, h, w)``; ``log Z_hat`` when
            ``test_with_attention``.
        """
        if not self.test_with_attention:
            return self._forward_seg(inputs)
        seg_logits, cls_logits = self.forward_train(inputs)
        return self.attention_log_probs(seg_logits, cls_logits)

    def attention_log_probs(self, seg_logits: Tensor,
                            cls_logits: Tensor) -> Tensor:
        """``log Z_hat`` of Eq. 11 (see the class docstring).

        Args:
            seg_logits (Tensor): ``(N, num_classes, H, W)``.
            cls_logits (Tensor): ``(N, num_classes - 1)``.

        Returns:
            Tensor: ``(N, num_classes, H, W)`` log attention-guided
            probabilities.
        """
        log_z = F.log_softmax(seg_logits, dim=1)
        log_d = F.logsigmoid(cls_logits.to(log_z.dtype))
        # Background has no tag and no classification score: factor 1.
        log_bg = log_d.new_zeros(log_d.shape[0], 1)
        log_hat = log_z + torch.cat([log_bg, log_d], dim=1)[:, :, None, None]
        if self.attention_normalize:
            log_hat = log_hat - torch.logsumexp(log_hat, dim=1, keepdim=True)
        return log_hat

    # ------------------------------------------------------------------ #
    # losses
    # ------------------------------------------------------------------ #
    def loss(self, inputs: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Forward both branches and compute the losses (Eq. 14)."""
        return self.loss_by_feat(
            self.forward_train(inputs), batch_data_samples)

    def loss_by_feat(self, seg_logits: SegOutput,
                     batch_data_samples: SampleList) -> dict:
        """Compute the selection loss(es), the attention loss and
        ``acc_seg``.

        Args:
            seg_logits (Tensor | tuple): ``(seg_logits, cls_logits)`` from
                :meth:`forward_train`, or segmentation logits alone.
            batch_data_samples (list[SegDataSample]): With ``gt_sem_seg``
                (proxy masks) and metainfo ``mask_scores`` (dict) and
                ``img_tags`` (``(num_classes - 1,)``) where the losses need
                them.

        Returns:
            dict[str, Tensor]: e.g. ``loss_sel``, ``loss_att``, ``acc_seg``
            and the statistics the losses return (logged, not optimised;
            the first loss to give a key wins), e.g. ``sel_frac`` (the
            share of the batch's images with ``w_i > 0``) when a loss
            weights images by their scores.
        """
        if isinstance(seg_logits, (tuple, list)):
            seg_logits, cls_logits = seg_logits
        else:
            cls_logits = None
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_logits = resize(
            input=seg_logits,
            size=seg_label.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        seg_label = seg_label.squeeze(1)
        metas = [sample.metainfo for sample in batch_data_samples]

        log_prob_hat = None
        if self.attention_guided and cls_logits is not None:
            log_prob_hat = self.attention_log_probs(seg_logits, cls_logits)

        losses_decode = (
            self.loss_decode if isinstance(self.loss_decode, nn.ModuleList)
            else [self.loss_decode])
        loss = dict()
        for loss_decode in losses_decode:
            stats = {}
            if callable(getattr(loss_decode, 'loss_with_stats', None)):
                # The statistics contract (see SelectionLoss): the loss
                # reads its scores from the metainfo and reports what the
                # head logs.
                use_hat = log_prob_hat is not None
                value, stats = loss_decode.loss_with_stats(
                    log_prob_hat if use_hat else seg_logits,
                    seg_label,
                    metas,
                    ignore_index=self.ignore_index,
                    pred_is_log_prob=use_hat)
            else:
                value = loss_decode(
                    seg_logits,
                    seg_label,
                    weight=None,
                    ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            loss[name] = loss[name] + value if name in loss else value
            for key, stat in stats.items():
                # Logged like acc_seg (e.g. sel_frac: how much of the batch
                # the selection keeps); the first loss to report a key wins.
                loss.setdefault(key, stat)

        if self.loss_attention is not None:
            if cls_logits is None:
                raise ValueError('loss_attention is set but loss_by_feat got '
                                 'no classification logits')
            tags = self._gather_tags(metas, cls_logits)
            loss[self.loss_attention.loss_name] = self.loss_attention(
                cls_logits, tags)

        loss['acc_seg'] = accuracy(
            seg_logits, seg_label, ignore_index=self.ignore_index)
        return loss

    @staticmethod
    def _image_name(meta: dict, idx: int) -> str:
        return str(meta.get('img_path', f'<batch image {idx}>'))

    def _gather_tags(self, metas: List[dict], like: Tensor) -> Tensor:
        tags = []
        for idx, meta in enumerate(metas):
            tag = meta.get('img_tags')
            if tag is None:
                raise KeyError(
                    f'image {self._image_name(meta, idx)} has no "img_tags" '
                    'in its data sample metainfo; the attention loss needs '
                    'them: train on WeakVOCDataset and pack with '
                    'PackWeakSegInputs')
            if isinstance(tag, np.ndarray):
                tag = torch.from_numpy(tag)
            tag = torch.as_tensor(tag).reshape(-1)
            if tag.numel() != self.num_fg_classes:
                raise ValueError(
                    f'image {self._image_name(meta, idx)} has '
                    f'{tag.numel()} tags, expected {self.num_fg_classes} '
                    '(num_classes - 1, no background)')
            tags.append(tag)
        return torch.stack(tags).to(device=like.device, dtype=like.dtype)
