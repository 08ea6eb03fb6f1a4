"""Loss terms of the GAN family.

Notation follows Hwang et al. (Sci Rep 2026), REFERENCE.md §1: A = BL domain, B = FU domain,
``G_A`` maps to BL style (our ``G_fu2bl``), ``G_B`` maps to FU style (``G_bl2fu``).

* :class:`GANLoss` — ``bce`` (BCE-with-logits, the paper's log D form) or ``lsgan`` (MSE).
* :func:`original_matching_loss` — the four-term OML of the paper's equation
  ``|x_A - G_A(x_B)| + |x_A - G_A(x_A)| + |x_B - G_B(x_A)| + |x_B - G_B(x_B)|`` (mean L1 each).
* :func:`original_matching_loss_code` — what the authors' public code computes under that name:
  only the two cross terms; its identity terms come from a separate identity loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harmbench.errors import DataError

GAN_LOSSES = ("bce", "lsgan")
OML_FORMS = ("paper", "authors-code")


class GANLoss:
    """Adversarial criterion on discriminator logits (any shape) against a constant target.

    Args:
        kind: ``bce`` (sigmoid cross-entropy on logits) or ``lsgan`` (least squares).
    """

    def __init__(self, kind: str = "bce") -> None:
        if kind not in GAN_LOSSES:
            raise DataError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")
        self.kind = kind

    def __call__(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.kind == "bce":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (the E‖·‖₁ of the paper, averaged over pixels and batch)."""
    return (a - b).abs().mean()


def cycle_loss(x_a: torch.Tensor, rec_a: torch.Tensor, x_b: torch.Tensor, rec_b: torch.Tensor) -> torch.Tensor:
    """Cycle consistency summed over both directions: ``|x_A - G_A(G_B(x_A))| + |x_B - G_B(G_A(x_B))|``."""
    return l1(rec_a, x_a) + l1(rec_b, x_b)


def original_matching_loss(x_a: torch.Tensor, x_b: torch.Tensor, ga_of_b: torch.Tensor, ga_of_a: torch.Tensor,
                           gb_of_a: torch.Tensor, gb_of_b: torch.Tensor) -> torch.Tensor:
    """The paper's four-term Original Matching Loss, equal weights.

    Args:
        x_a, x_b: paired BL / FU slices, (N, 1, H, W) in [-1, 1].
        ga_of_b: ``G_A(x_B)`` (FU harmonized to BL); ga_of_a: ``G_A(x_A)``;
        gb_of_a: ``G_B(x_A)`` (BL mapped to FU); gb_of_b: ``G_B(x_B)``.

    Returns:
        Scalar ``l1(x_A, G_A(x_B)) + l1(x_A, G_A(x_A)) + l1(x_B, G_B(x_A)) + l1(x_B, G_B(x_B))``.
    """
    return l1(ga_of_b, x_a) + l1(ga_of_a, x_a) + l1(gb_of_a, x_b) + l1(gb_of_b, x_b)


def original_matching_loss_code(x_a: torch.Tensor, x_b: torch.Tensor, ga_of_b: torch.Tensor,
                                gb_of_a: torch.Tensor) -> torch.Tensor:
    """The authors' code's OML: the two paired cross terms only, ``l1(x_A, G_A(x_B)) + l1(x_B, G_B(x_A))``."""
    return l1(ga_of_b, x_a) + l1(gb_of_a, x_b)


def identity_loss(x_a: torch.Tensor, x_b: torch.Tensor, ga_of_a: torch.Tensor, gb_of_b: torch.Tensor) -> torch.Tensor:
    """CycleGAN identity-mapping loss: ``l1(x_A, G_A(x_A)) + l1(x_B, G_B(x_B))``."""
    return l1(ga_of_a, x_a) + l1(gb_of_b, x_b)
