"""Slice-wise SSIM / PSNR in torch, for model selection on the validation split.

SSIM follows Wang et al. 2004 with the settings of REFERENCE.md §7 (Gaussian window σ = 1.5,
11 x 11, K1 = 0.01, K2 = 0.03, population covariance, data range 1) and, like
``skimage.metrics.structural_similarity``, averages the SSIM map after cropping the 5-pixel
border where the window is incomplete.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gauss(sigma: float = 1.5, radius: int = 5) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def ssim_slices(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Per-slice SSIM of two (N, H, W) stacks in [0, ``data_range``]; returns (N,)."""
    g = _gauss().to(x.device, torch.float64)
    kx, ky = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kx), ky)

    x, y = x[:, None].double(), y[:, None].double()
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).float()


def psnr_slices(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Per-slice PSNR (dB) ``10·log10(L² / MSE)`` of two (N, H, W) stacks; returns (N,)."""
    mse = ((x.double() - y.double()) ** 2).mean(dim=(1, 2)).clamp_min(1e-12)
    return (10 * torch.log10(data_range**2 / mse)).float()
