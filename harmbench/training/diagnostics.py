"""Discriminator diagnostics logged in the training history (is D winning, losing, or blind?)."""

from __future__ import annotations

import torch


@torch.no_grad()
def discriminator_stats(real: torch.Tensor, fake: torch.Tensor, prefix: str, *, logits: bool = True
                        ) -> dict[str, float]:
    """Mean "real" probability D gives real and fake images, and its accuracy at 0.5.

    Args:
        real, fake: discriminator outputs (any shape; PatchGAN maps count per patch).
        prefix: key prefix, e.g. ``D_bl`` -> ``D_bl_real``, ``D_bl_fake``, ``D_bl_acc``.
        logits: outputs are logits (BCE / non-saturating losses); False: already in [0, 1]
            targets (least-squares GAN).
    """
    p_real = torch.sigmoid(real.float()) if logits else real.float()
    p_fake = torch.sigmoid(fake.float()) if logits else fake.float()
    acc = 0.5 * (float((p_real > 0.5).float().mean()) + float((p_fake <= 0.5).float().mean()))
    return {f"{prefix}_real": float(p_real.mean()), f"{prefix}_fake": float(p_fake.mean()), f"{prefix}_acc": acc}
