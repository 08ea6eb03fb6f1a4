"""Loss terms against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from harmbench.errors import DataError
from harmbench_gan import losses


def _t(*vals: float) -> torch.Tensor:
    return torch.tensor(vals).view(1, 1, 1, len(vals))


def test_oml_paper_four_terms_by_hand():
    x_a, x_b = _t(0.0, 1.0), _t(0.5, -0.5)
    ga_b, ga_a = _t(0.2, 0.6), _t(0.0, 0.0)    # G_A(x_B), G_A(x_A)
    gb_a, gb_b = _t(0.5, 0.5), _t(1.0, -1.0)   # G_B(x_A), G_B(x_B)
    # |x_A - G_A(x_B)| = mean(0.2, 0.4) = 0.3 ; |x_A - G_A(x_A)| = mean(0, 1) = 0.5
    # |x_B - G_B(x_A)| = mean(0, 1) = 0.5     ; |x_B - G_B(x_B)| = mean(0.5, 0.5) = 0.5
    got = losses.original_matching_loss(x_a, x_b, ga_b, ga_a, gb_a, gb_b)
    assert got.item() == pytest.approx(0.3 + 0.5 + 0.5 + 0.5)
    code = losses.original_matching_loss_code(x_a, x_b, ga_b, gb_a)
    assert code.item() == pytest.approx(0.3 + 0.5)
    idt = losses.identity_loss(x_a, x_b, ga_a, gb_b)
    assert idt.item() == pytest.approx(0.5 + 0.5)
    # the paper's OML is the code's cross terms plus the identity terms, equally weighted
    assert got.item() == pytest.approx(code.item() + idt.item())


def test_cycle_loss_both_directions():
    a, b = _t(0.0, 0.0), _t(1.0, 1.0)
    assert losses.cycle_loss(a, _t(0.1, 0.3), b, _t(1.0, 0.0)).item() == pytest.approx(0.2 + 0.5)


def test_gan_losses():
    z = torch.zeros(2, 1)
    bce = losses.GANLoss("bce")
    assert bce(z, True).item() == pytest.approx(math.log(2))
    assert bce(torch.full((2, 1), 2.0), False).item() == pytest.approx(math.log(1 + math.exp(2)))
    ls = losses.GANLoss("lsgan")
    assert ls(torch.full((3,), 0.25), True).item() == pytest.approx(0.5625)
    with pytest.raises(DataError, match="hinge"):
        losses.GANLoss("hinge")
