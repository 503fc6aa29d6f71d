# Copyright (c) mmattn contributors. All rights reserved.
"""Attention loss of SAL-Net (paper Eq. 12, weighted by lambda in Eq. 14)."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from mmattn.utils.validation import check_choice, is_real

_MODES = ('bce', 'paper')


@MODELS.register_module()
class AttentionLoss(nn.Module):
    """Multi-label loss of the classification scores ``d_s`` against the
    image tags ``Y`` (SAL Eq. 12), scaled by ``lambda`` (Eq. 14).

    ``d_s = sigmoid(x)`` where ``x`` are the logits of the classification
    subnetwork over the foreground classes.

    - ``mode='bce'`` (default; the authors' released code): sigmoid binary
      cross entropy, averaged over images and classes::

          L = mean_{i,c} -[Y_ic log d_ic + (1 - Y_ic) log(1 - d_ic)]

    - ``mode='paper'``: Eq. 12 literally, summed over classes and averaged
      over the images of the batch (the paper sums over all N training
      images; averaging keeps the scale independent of the batch size)::

          L = mean_i sum_c -Y_ic log d_ic

      ``log d = log sigmoid(x) = -softplus(-x)`` is evaluated in log space,
      which is finite for every finite logit, so no clamping is needed (an
      ``eps`` clamp would instead zero the gradient of confidently wrong
      scores). Note that Eq. 12 has no term for absent classes: alone it is
      minimised by predicting every class, so it only makes sense together
      with the selection loss (Eq. 14). Use ``'bce'`` unless reproducing the
      equation is the point.

    Args:
        mode (str): ``'bce'`` or ``'paper'``. Default: 'bce'.
        loss_weight (float): ``lambda`` of Eq. 14. The paper picks 2
            (Table VIII). Default: 2.0.
        loss_name (str): Name in the log. Default: 'loss_att'.

    Shapes:
        - ``cls_logits``: ``(N, C_fg)`` logits of ``d_s`` (foreground
          classes only).
        - ``tags``: ``(N, C_fg)`` 0/1 image tags.
        - Output: scalar.
    """

    def __init__(self,
                 mode: str = 'bce',
                 loss_weight: float = 2.0,
                 loss_name: str = 'loss_att') -> None:
        super().__init__()
        check_choice('mode', mode, _MODES)
        if not is_real(loss_weight) or loss_weight < 0:
            raise ValueError('loss_weight must be a non-negative number, got '
                             f'{loss_weight!r}')
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError('loss_name must be a str starting with "loss_" '
                             f'(else it is not back-propagated), got '
                             f'{loss_name!r}')
        self.mode = mode
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Name of the loss in the log (mmseg loss convention)."""
        return self._loss_name

    def forward(self, cls_logits: Tensor, tags: Tensor, **kwargs) -> Tensor:
        """Compute the attention loss.

        Args:
            cls_logits (Tensor): ``(N, C_fg)`` logits of ``d_s``.
            tags (Tensor): ``(N, C_fg)`` 0/1 image tags ``Y``.

        Returns:
            Tensor: Scalar loss.
        """
        if cls_logits.dim() != 2 or cls_logits.shape != tags.shape:
            raise ValueError('AttentionLoss expects logits and tags of the '
                             'same shape (N, C_fg), got '
                             f'{tuple(cls_logits.shape)} and '
                             f'{tuple(tags.shape)}')
        tags = tags.to(cls_logits.dtype)
        if self.mode == 'bce':
            loss = F.binary_cross_entropy_with_logits(
                cls_logits, tags, reduction='mean')
        else:
            loss = -(tags * F.logsigmoid(cls_logits)).sum(dim=1).mean()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, loss_weight={self.loss_weight}'
