# Copyright (c) mmattn contributors. All rights reserved.
"""GDN (Ballé et al.) against its formula; positivity under training."""
import math

import pytest
import torch
from mmengine.registry import MODELS

from mmattn.blocks import GDN


def set_effective(gdn, beta, gamma):
    with torch.no_grad():
        gdn.beta_param.copy_(torch.sqrt(beta + gdn.pedestal))
        gdn.gamma_param.copy_(torch.sqrt(gamma + gdn.pedestal))


def test_gdn_formula_tiny():
    gdn = GDN(2)
    beta = torch.tensor([1.0, 0.5])
    gamma = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    set_effective(gdn, beta, gamma)
    torch.testing.assert_close(gdn.beta, beta)
    torch.testing.assert_close(gdn.gamma, gamma)
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    # y0 = 1 / sqrt(1 + .1*1 + .2*4) = 1/sqrt(1.9)
    # y1 = 2 / sqrt(.5 + .3*1 + .4*4) = 2/sqrt(2.4)
    expected = torch.tensor([1 / math.sqrt(1.9), 2 / math.sqrt(2.4)])
    torch.testing.assert_close(gdn(x).flatten(), expected)
    # (N, C) input (GDN after the fc layer of Table I).
    torch.testing.assert_close(gdn(x.view(1, 2)).flatten(), expected)
    inv = GDN(2, inverse=True)
    set_effective(inv, beta, gamma)
    torch.testing.assert_close(
        inv(x).flatten(),
        torch.tensor([math.sqrt(1.9), 2 * math.sqrt(2.4)]))


def test_gdn_initialisation_and_registry():
    gdn = MODELS.build(dict(type='GDN', channels=3))
    torch.testing.assert_close(gdn.beta, torch.ones(3))
    torch.testing.assert_close(gdn.gamma, 0.1 * torch.eye(3) +
                               1e-6 * (1 - torch.eye(3)))
    x = torch.randn(2, 3, 4, 5)
    y = gdn(x)
    assert y.shape == x.shape
    # Off-diagonal gamma is ~0 at init: y_i ~= x_i / sqrt(1 + .1 x_i^2)
    torch.testing.assert_close(y, x / torch.sqrt(1 + 0.1 * x**2),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match='channels'):
        GDN(0)
    with pytest.raises(ValueError, match='beta_min'):
        GDN(3, beta_min=0)
    with pytest.raises(ValueError, match=r'\(N, 3'):
        gdn(torch.randn(2, 4, 5, 5))


def test_gdn_stays_positive_under_training():
    torch.manual_seed(0)
    gdn = GDN(4)
    opt = torch.optim.SGD(gdn.parameters(), lr=5.0)
    # Minimising beta + gamma drives the raw parameters far below zero.
    for _ in range(20):
        opt.zero_grad()
        (gdn.beta.sum() + gdn.gamma.sum()).backward()
        opt.step()
    # The raw parameters did go negative ...
    assert (gdn.beta_param < 0).all() and (gdn.gamma_param < 0).all()
    # ... but the effective values are bounded below.
    assert (gdn.beta > 0).all() and (gdn.gamma > 0).all()
    assert float(gdn.beta.detach().min()) >= gdn.beta_min * (1 - 1e-3)
    assert float(gdn.gamma.detach().min()) >= gdn.gamma_min * (1 - 1e-3)
    # Output stays finite on large inputs with the bounded parameters.
    assert torch.isfinite(gdn(torch.randn(2, 4, 3, 3) * 100)).all()
    # A parameter below its bound is not frozen: a loss that wants beta
    # larger still sends a gradient (a plain clamp would send zero) ...
    opt.zero_grad()
    (-gdn.beta.sum()).backward()
    assert (gdn.beta_param.grad < 0).all()
    # ... while one that wants it smaller sends none (it would only go
    # further below the bound).
    opt.zero_grad()
    gdn.beta.sum().backward()
    assert (gdn.beta_param.grad == 0).all()
