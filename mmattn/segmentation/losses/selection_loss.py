# Copyright (c) mmattn contributors. All rights reserved.
"""Selection loss of SAL-Net (paper Eq. 8, 9 and 13)."""
import logging
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from mmseg.registry import MODELS

from mmattn.segmentation.score_file import SCORE_FIELDS
from mmattn.utils.validation import check_choice, is_real

ScoreInput = Union[Tensor, Sequence[Mapping[str, Optional[float]]],
                   Sequence[float], None]

_WEIGHTINGS = ('hard', 'soft', 'none')
_NORMALIZERS = ('selected_pixels', 'weighted_pixels')


@MODELS.register_module()
class SelectionLoss(nn.Module):
    """Per-image weighted cross entropy on proxy masks (SAL Eq. 8/9/13).

    .. math::

        L_{sel} = -\\frac{1}{D} \\sum_i w_i \\sum_{p \\in V_i}
                  \\log \\hat{Z}^{G_i(p)}_p

    where :math:`V_i` are the pixels of image ``i`` whose proxy label is not
    ``ignore_index`` and the per-image weight is

    - ``weighting='hard'`` (paper Eq. 9, default): ``w_i = 1`` if
      ``score_i >= tau`` else ``0``;
    - ``weighting='soft'``: ``w_i = score_i``;
    - ``weighting='none'``: ``w_i = 1`` (plain retraining on all proxies,
      Eq. 2; no scores needed).

    The paper writes a plain sum; a mean keeps the learning rate independent
    of batch and crop size. The denominator ``D`` is

    - ``normalize='selected_pixels'`` (default): the number of valid pixels
      of the images with ``w_i > 0``. Unselected images neither add loss nor
      dilute the mean (mmseg's ``CrossEntropyLoss`` with a per-pixel weight
      would divide by every pixel of the batch). With hard weights this is
      exactly cross entropy over the selected images; with soft weights an
      image of score 0.3 counts 0.3 times as much as a perfect one, in every
      batch.
    - ``normalize='weighted_pixels'``: ``sum_i w_i |V_i|``, a weighted mean
      (invariant to rescaling all scores).

    A batch in which no image is selected gives a loss of exactly zero that
    is still attached to the graph (so DDP and the optimizer wrapper behave),
    never NaN; such batches are counted (:attr:`run_stats`) and logged at
    the 1st, 10th, 100th, ... occurrence instead of every iteration.

    Statistics contract (what :class:`SALHead` relies on): a loss of
    ``loss_decode`` that defines :meth:`loss_with_stats` gets the batch's
    metainfo and (with attention) ``log Z_hat``, reads what it needs from
    the metainfo itself, and returns ``(loss, stats)``; the head adds
    ``loss`` under :attr:`loss_name` and logs each entry of ``stats`` (a
    detached scalar tensor, not a ``loss_`` key) unless an earlier loss
    already gave that key. Here ``stats`` is ``{'sel_frac': ...}`` (the
    share of the batch's images with ``w_i > 0``) when the images are
    weighted by scores and empty with ``weighting='none'``. Counters over
    the whole run are in :attr:`run_stats`.

    Args:
        score_key (str): Which per-image mask score drives the weight:
            ``'SF'`` (refined, Eq. 7; the paper's final choice), ``'SC'``
            (coarse, Eq. 5), ``'AC'``, ``'CD'`` or ``'P'``. Default: 'SF'.
        tau (float): Hard selection threshold of Eq. 9, in ``[0, 1]``. The
            paper uses 0.55 (VGG16) and 0.85 (ResNet-101) on SF, 0.55 and
            0.8 on SC. Default: 0.55.
        weighting (str): ``'hard'``, ``'soft'`` or ``'none'``.
            Default: 'hard'.
        normalize (str): ``'selected_pixels'`` or ``'weighted_pixels'``.
            Default: 'selected_pixels'.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
        loss_name (str): Name in the log; must start with ``loss_`` to be
            back-propagated. Default: 'loss_sel'.

    Shapes:
        - ``pred``: ``(N, C, H, W)`` logits (or ``log Z_hat``).
        - ``target``: ``(N, H, W)`` proxy labels.
        - ``scores``: N per-image scores (tensor ``(N,)`` or dicts).
        - ``batch_metainfo``: N metainfo dicts (``mask_scores``).
        - Output: scalar (:meth:`forward`); scalar and a dict of scalars
          (:meth:`loss_with_stats`).
    """

    def __init__(self,
                 score_key: str = 'SF',
                 tau: float = 0.55,
                 weighting: str = 'hard',
                 normalize: str = 'selected_pixels',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_sel') -> None:
        super().__init__()
        check_choice('score_key', score_key, SCORE_FIELDS)
        if not is_real(tau) or not 0.0 <= float(tau) <= 1.0:
            raise ValueError(f'tau must be a number in [0, 1], got {tau!r}')
        check_choice('weighting', weighting, _WEIGHTINGS)
        check_choice('normalize', normalize, _NORMALIZERS)
        if not is_real(loss_weight) or loss_weight < 0:
            raise ValueError('loss_weight must be a non-negative number, got '
                             f'{loss_weight!r}')
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError('loss_name must be a str starting with "loss_" '
                             f'(else it is not back-propagated), got '
                             f'{loss_name!r}')
        self.score_key = score_key
        self.tau = float(tau)
        self.weighting = weighting
        self.normalize = normalize
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name
        self._num_empty_batches = 0

    @property
    def loss_name(self) -> str:
        """Name of the loss in the log (mmseg loss convention)."""
        return self._loss_name

    @property
    def run_stats(self) -> Dict[str, int]:
        """Counters since the loss was built, for reports:
        ``num_empty_batches``, the batches in which no image was selected
        (or none had a valid pixel), whose loss was set to 0."""
        return dict(num_empty_batches=self._num_empty_batches)

    def loss_with_stats(
            self,
            pred: Tensor,
            target: Tensor,
            batch_metainfo: Sequence[Mapping],
            ignore_index: int = 255,
            pred_is_log_prob: bool = False
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The loss of a training batch and its statistics, from the data
        samples' metainfo (see the statistics contract in the class
        docstring).

        Args:
            pred (Tensor): ``(N, C, H, W)`` logits or, with
                ``pred_is_log_prob``, ``log Z_hat``.
            target (Tensor): ``(N, H, W)`` long proxy labels.
            batch_metainfo (Sequence[Mapping]): The N data samples'
                metainfo; each needs ``mask_scores`` (a dict with
                :attr:`score_key`) unless ``weighting='none'``.
                ``img_path`` names an image in errors.
            ignore_index (int): See :meth:`forward`. Default: 255.
            pred_is_log_prob (bool): See :meth:`forward`. Default: False.

        Returns:
            tuple[Tensor, dict[str, Tensor]]: The scalar loss (as
            :meth:`forward`) and ``{'sel_frac': share of images with w_i >
            0}`` (detached; empty with ``weighting='none'``).

        Raises:
            KeyError: An image lacks ``mask_scores`` or its
                :attr:`score_key`; the message names the image.
        """
        if self.weighting == 'none':
            loss = self(
                pred,
                target,
                ignore_index=ignore_index,
                pred_is_log_prob=pred_is_log_prob)
            return loss, {}
        scores = self._metainfo_scores(batch_metainfo)
        weights = self.image_weights(scores, pred.shape[0], pred.device)
        loss = self(
            pred,
            target,
            scores=scores,
            ignore_index=ignore_index,
            pred_is_log_prob=pred_is_log_prob,
            image_weights=weights)
        return loss, dict(sel_frac=(weights > 0).float().mean().detach())

    def _metainfo_scores(self, batch_metainfo: Sequence[Mapping]) -> Tensor:
        """``(N,)`` float32 :attr:`score_key` values of the metainfo."""
        values = []
        for idx, meta in enumerate(batch_metainfo):
            name = str(meta.get('img_path', f'<batch image {idx}>'))
            scores = meta.get('mask_scores')
            if scores is None:
                raise KeyError(
                    f'image {name} has no "mask_scores" in its data sample '
                    'metainfo; the selection loss needs them: train on '
                    'WeakVOCDataset (with a score file) and pack with '
                    'PackWeakSegInputs')
            values.append(self._score_of(scores, name))
        return torch.tensor(values, dtype=torch.float32)

    def _score_of(self, scores: Mapping, name: str) -> float:
        """The :attr:`score_key` entry of one image's score dict."""
        value = scores.get(self.score_key)
        if value is None:
            raise KeyError(f'image {name} has no {self.score_key!r} score '
                           f'(its scores: {dict(scores)})')
        return float(value)

    def image_weights(self, scores: ScoreInput, num_images: int,
                      device: torch.device) -> Tensor:
        """Per-image weights ``w_i`` (Eq. 9).

        Args:
            scores: Tensor ``(N,)`` of the ``score_key`` values, or a
                sequence of N score dicts (``{'AC', 'CD', 'SC', 'P',
                'SF'}``), or a sequence of N floats. Ignored (may be None)
                when ``weighting='none'``.
            num_images (int): N.
            device (torch.device): Device of the result.

        Returns:
            Tensor: ``(N,)`` float weights.
        """
        if self.weighting == 'none':
            return torch.ones(num_images, device=device)
        values = self._score_tensor(scores, num_images, device)
        if self.weighting == 'hard':
            return (values >= self.tau).float()
        return values

    def _score_tensor(self, scores: ScoreInput, num_images: int,
                      device: torch.device) -> Tensor:
        if scores is None:
            raise ValueError(
                f'SelectionLoss(weighting={self.weighting!r}) needs per-image '
                f'mask scores ({self.score_key!r}) but got none; use '
                'WeakVOCDataset with a score file and PackWeakSegInputs, or '
                "weighting='none'")
        if isinstance(scores, Tensor):
            values = scores.detach().to(device=device, dtype=torch.float32)
        else:
            values_list: List[float] = [
                self._score_of(item, f'{idx} of the batch') if isinstance(
                    item, Mapping) else float(item)
                for idx, item in enumerate(scores)
            ]
            values = torch.tensor(
                values_list, dtype=torch.float32, device=device)
        if values.shape != (num_images, ):
            raise ValueError(f'expected {num_images} per-image scores, got a '
                             f'tensor of shape {tuple(values.shape)}')
        return values

    def forward(self,
                pred: Tensor,
                target: Tensor,
                scores: ScoreInput = None,
                ignore_index: int = 255,
                pred_is_log_prob: bool = False,
                image_weights: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Compute the selection loss.

        Args:
            pred (Tensor): ``(N, C, H, W)`` segmentation logits, or log
                probabilities ``log Z_hat`` when ``pred_is_log_prob`` (Eq. 13:
                the attention-guided probabilities are not normalised, so
                they must not pass through another softmax).
            target (Tensor): ``(N, H, W)`` long proxy labels.
            scores: Per-image mask scores, see :meth:`image_weights`.
            ignore_index (int): Label value that is excluded from loss and
                from the pixel count. Default: 255.
            pred_is_log_prob (bool): Treat ``pred`` as log probabilities.
            image_weights (Tensor, optional): ``(N,)`` precomputed ``w_i``;
                overrides ``scores``.

        Returns:
            Tensor: Scalar loss.
        """
        if pred.dim() != 4 or target.dim() != 3:
            raise ValueError('SelectionLoss expects pred (N, C, H, W) and '
                             f'target (N, H, W), got {tuple(pred.shape)} and '
                             f'{tuple(target.shape)}')
        num_images = pred.shape[0]
        if image_weights is None:
            weights = self.image_weights(scores, num_images, pred.device)
        else:
            weights = image_weights.detach().to(pred.device, torch.float32)
        log_prob = pred if pred_is_log_prob else F.log_softmax(pred, dim=1)
        valid = target != ignore_index
        safe_target = torch.where(valid, target, torch.zeros_like(target))
        pixel_nll = -log_prob.gather(1, safe_target.unsqueeze(1)).squeeze(1)
        pixel_nll = pixel_nll * valid.to(pixel_nll.dtype)
        per_image_nll = pixel_nll.flatten(1).sum(dim=1)
        valid_per_image = valid.flatten(1).sum(dim=1).to(pixel_nll.dtype)
        if self.normalize == 'selected_pixels':
            denominator = (valid_per_image * (weights > 0).float()).sum()
        else:
            denominator = (valid_per_image * weights).sum()
        if denominator <= 0:
            self._note_empty_batch()
            # Multiplying by zero keeps the graph: every parameter gets a
            # zero gradient rather than no gradient at all.
            return pred.sum() * 0.0
        loss = (weights * per_image_nll).sum() / denominator
        return self.loss_weight * loss

    def _note_empty_batch(self) -> None:
        self._num_empty_batches += 1
        count = self._num_empty_batches
        # Log at 1, 10, 100, ...: visible without flooding a long run.
        if _is_power_of_ten(count):
            print_log(
                f'SelectionLoss: no image of the batch was selected '
                f'({self.score_key} < tau={self.tau} or no valid pixel); '
                f'loss set to 0. This happened {count} time(s) so far.',
                logger='current',
                level=logging.WARNING)

    def extra_repr(self) -> str:
        return (f'score_key={self.score_key!r}, tau={self.tau}, '
                f'weighting={self.weighting!r}, '
                f'normalize={self.normalize!r}, '
                f'loss_weight={self.loss_weight}')


def _is_power_of_ten(count: int) -> bool:
    while count % 10 == 0:
        count //= 10
    return count == 1
