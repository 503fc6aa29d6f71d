# Copyright (c) mmattn contributors. All rights reserved.
"""Generalized divisive normalization (Ballé, Laparra and Simoncelli 2016),
the activation of the SAL mask-scoring network (Table I)."""
from typing import Optional

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from mmattn.utils.validation import check_positive_int

__all__ = ['GDN', 'lower_bound']


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` whose gradient still flows where it would move
    ``x`` back up to the bound.

    A plain ``clamp`` has zero gradient below the bound, so a parameter
    pushed there would freeze for good; Ballé et al. pass the gradient
    through when ``x >= bound`` or when descent would increase ``x``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        x, bound = ctx.saved_tensors
        # Gradient descent subtracts grad_output: a negative gradient means
        # the update raises x, which is always allowed.
        pass_through = (x >= bound) | (grad_output < 0)
        return grad_output * pass_through.to(grad_output.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """``max(x, bound)`` with Ballé et al.'s gradient (see
    :class:`_LowerBound`)."""
    return _LowerBound.apply(x, torch.tensor(bound, dtype=x.dtype,
                                             device=x.device))


@MODELS.register_module()
class GDN(BaseModule):
    """Generalized divisive normalization over channels.

    At every position, with ``x`` the ``C`` channel values::

        y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j ** 2)     (GDN)
        y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j ** 2)     (inverse)

    Positivity under training (Ballé et al., "End-to-end optimized image
    compression", appendix): the module stores ``p = sqrt(v + eps**2)`` and
    uses ``v = lower_bound(p, sqrt(v_min + eps**2)) ** 2 - eps**2``, where
    ``eps = 2 ** -18`` is the reparameterisation offset. So the effective
    ``beta >= beta_min`` and ``gamma >= gamma_min`` whatever the optimiser
    does, while the square root keeps the step size relative to the value
    (small values move slowly) and :func:`lower_bound` lets a parameter
    stuck on its bound be pulled back. Ballé et al. use ``gamma_min = 0``;
    the default here, ``1e-6``, keeps every effective ``gamma`` strictly
    positive, which costs nothing measurable.

    Initialisation (Ballé et al.): ``beta = 1``, ``gamma = gamma_init * I``,
    so GDN starts close to ``x / sqrt(1 + 0.1 x_i ** 2)``.

    Args:
        channels: Number of channels ``C`` (dim 1 of the input).
        inverse: Compute the inverse (IGDN, multiply instead of divide).
        beta_min: Lower bound of ``beta``; must be > 0 so the denominator
            never vanishes.
        gamma_min: Lower bound of ``gamma``; must be >= 0.
        gamma_init: Initial diagonal of ``gamma``.
        reparam_offset: The offset ``eps`` above.
        init_cfg: mmengine init config; the default initialisation above is
            applied at construction and by :meth:`init_weights`.

    Shapes:
        input ``(N, C)`` or ``(N, C, *)``, output the same.
    """

    def __init__(self,
                 channels: int,
                 inverse: bool = False,
                 beta_min: float = 1e-6,
                 gamma_min: float = 1e-6,
                 gamma_init: float = 0.1,
                 reparam_offset: float = 2**-18,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int('channels', channels)
        if not beta_min > 0:
            raise ValueError(f'beta_min must be > 0, got {beta_min}')
        if not gamma_min >= 0:
            raise ValueError(f'gamma_min must be >= 0, got {gamma_min}')
        if not gamma_init >= gamma_min:
            raise ValueError(f'gamma_init must be >= gamma_min '
                             f'({gamma_min}), got {gamma_init}')
        if not reparam_offset > 0:
            raise ValueError(
                f'reparam_offset must be > 0, got {reparam_offset}')
        self.channels = channels
        self.inverse = bool(inverse)
        self.beta_min = float(beta_min)
        self.gamma_min = float(gamma_min)
        self.gamma_init = float(gamma_init)
        self.pedestal = float(reparam_offset)**2
        self.beta_bound = (self.beta_min + self.pedestal)**0.5
        self.gamma_bound = (self.gamma_min + self.pedestal)**0.5
        self.beta_param = nn.Parameter(torch.empty(channels))
        self.gamma_param = nn.Parameter(torch.empty(channels, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``beta = 1`` and ``gamma = gamma_init * I`` (effective)."""
        with torch.no_grad():
            self.beta_param.copy_(
                torch.sqrt(torch.ones(self.channels) + self.pedestal))
            gamma = self.gamma_init * torch.eye(self.channels)
            gamma = gamma.clamp(min=self.gamma_min)
            self.gamma_param.copy_(torch.sqrt(gamma + self.pedestal))

    def init_weights(self) -> None:
        """Apply ``init_cfg`` if given, else the GDN initialisation."""
        if self.init_cfg is None:
            self.reset_parameters()
        else:
            super().init_weights()

    @property
    def beta(self) -> Tensor:
        """Effective ``beta``, shape ``(C,)``, every entry >= beta_min."""
        return lower_bound(self.beta_param, self.beta_bound)**2 - \
            self.pedestal

    @property
    def gamma(self) -> Tensor:
        """Effective ``gamma``, shape ``(C, C)`` (row ``i``: weights of
        ``x_j ** 2`` in the normaliser of channel ``i``), entries >=
        gamma_min."""
        return lower_bound(self.gamma_param, self.gamma_bound)**2 - \
            self.pedestal

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``(N, C)`` or ``(N, C, *)``."""
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(f'GDN({self.channels}) expects (N, '
                             f'{self.channels}, ...) input, got shape '
                             f'{tuple(x.shape)}')
        # Move channels last so one matmul applies gamma at every position.
        moved = x.movedim(1, -1)
        norm = torch.matmul(moved**2, self.gamma.t()) + self.beta
        norm = torch.sqrt(norm).movedim(-1, 1)
        return x * norm if self.inverse else x / norm

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, inverse={self.inverse}, '
                f'beta_min={self.beta_min}, gamma_min={self.gamma_min}')
