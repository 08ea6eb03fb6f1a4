"""Validation of a slice translator: slice-wise SSIM / PSNR against BL, and of the identity map.

SSIM follows Wang et al. 2004 with the settings of REFERENCE.md §7 (Gaussian window σ = 1.5,
11 x 11, K1 = 0.01, K2 = 0.03, population covariance, data range 1) and, like
``skimage.metrics.structural_similarity``, averages the SSIM map after cropping the 5-pixel
border where the window is incomplete. Scores are means over the validation slices in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harmbench.training.protocol import TrainableModel
from harmbench.training.scaling import to_unit


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


def psnr_slices(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-slice PSNR (dB) ``10·log10(L² / MSE)`` of two (N, H, W) stacks; returns (N,).

    ``mask``: (N, H, W) bool, the MSE over its True pixels only (a slice without any: MSE 0,
    i.e. the 120 dB cap).
    """
    d = (x.double() - y.double()) ** 2
    if mask is None:
        mse = d.mean(dim=(1, 2))
    else:
        mse = (d * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp_min(1)
    return (10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))).float()


def pooled_psnr(psnr: np.ndarray, weights: np.ndarray | None = None, *, data_range: float = 1.0) -> float:
    """The PSNR of the stack's pooled MSE, from per-slice PSNRs (dB).

    ``10·log10(L² / MSE)`` with ``MSE = Σ w_i·MSE_i / Σ w_i`` (``weights``: scored pixels per
    slice; None: equal): a volume PSNR, dominated like the leaderboard's volume metric by the
    slices with the most error, where the mean of per-slice dB weights every slice alike (a
    near-empty edge slice whose small MSE halves moves it by 3 dB).
    """
    mse = data_range**2 * np.power(10.0, -np.asarray(psnr, dtype=np.float64) / 10.0)
    w = np.ones_like(mse) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(10 * np.log10(data_range**2 * w.sum() / (w * mse).sum()))


def _unit(t: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(to_unit(t[:, 0].numpy()))


class SliceValidator:
    """Scores ``model.translate(FU, BL)`` against BL on fixed validation slices.

    Args:
        fu, bl: signed (N, H, W) stacks as the network takes them (padded), slice ``i`` paired.
        batch: slices per forward pass.
        region: (rows, columns) to score, e.g. the crop that removes the padding; None: all.
        reference: pass the BL slices to ``translate`` as the style reference (STGAN), else None.
        passthrough: optional (N, H, W) bool, True where the method passes the FU through
            unchanged at inference (outside the head): the translated slices take the FU's
            values there before scoring, so validation scores what the method will output.
        mask: optional (N, H, W) bool, the pixels ``val_psnr`` scores (the head, as the
            leaderboard's head-masked metrics); SSIM always scores the whole ``region``. With a
            mask, ``val_psnr`` is the PSNR of the pooled MSE over all masked pixels of the stack
            (:func:`pooled_psnr`), i.e. the validation slices' volume PSNR in the head, which ranks
            models as the leaderboard does; without one it is the mean of per-slice PSNRs.
    """

    def __init__(self, fu: np.ndarray, bl: np.ndarray, *, batch: int = 16,
                 region: tuple[slice, slice] | None = None, reference: bool = False,
                 passthrough: np.ndarray | None = None, mask: np.ndarray | None = None) -> None:
        for name, a in (("passthrough", passthrough), ("mask", mask)):
            if a is not None and a.shape != fu.shape:
                raise ValueError(f"{name} has shape {a.shape}; the slices have {fu.shape}")
        self.fu, self.bl, self.batch, self.region, self.reference = fu, bl, batch, region, reference
        self.passthrough = passthrough
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._weights = None if self.mask is None else self._crop(torch.from_numpy(self.mask)).sum(dim=(1, 2)).numpy()

    def _crop(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.region is None else t[:, self.region[0], self.region[1]]

    def __len__(self) -> int:
        return int(self.fu.shape[0])

    def _score(self, a: torch.Tensor, b: torch.Tensor, out: dict[str, list[torch.Tensor]], s: int,
               prefix: str = "") -> None:
        a, b = self._crop(a), self._crop(b)
        out.setdefault(f"{prefix}ssim", []).append(ssim_slices(a, b))
        if not prefix:
            m = None if self.mask is None else self._crop(torch.from_numpy(self.mask[s:s + self.batch]))
            out.setdefault("psnr", []).append(psnr_slices(a, b, mask=m))

    def identity_slices(self) -> dict[str, np.ndarray]:
        """Per-slice scores (``val_ssim``, ``val_psnr``: (N,) arrays) of the identity map (FU itself)."""
        out: dict[str, list[torch.Tensor]] = {}
        for s in range(0, len(self), self.batch):
            bl = torch.from_numpy(self.bl[s:s + self.batch])[:, None]
            fu = torch.from_numpy(self.fu[s:s + self.batch])[:, None]
            self._score(_unit(bl), _unit(fu), out, s)
        return {f"val_{k}": torch.cat(v).numpy() for k, v in out.items()}

    def summary(self, per_slice: dict[str, np.ndarray]) -> dict[str, float]:
        """One score per key from per-slice scores: the mean, or (with a ``mask``) the pooled
        head PSNR for ``val_psnr``."""
        return {k: pooled_psnr(v, self._weights) if k == "val_psnr" and self._weights is not None
                else float(torch.from_numpy(v).mean()) for k, v in per_slice.items()}

    def identity(self) -> dict[str, float]:
        """The scores of the identity map (FU itself), for ``TrainingHistory.identity_score``."""
        return self.summary(self.identity_slices())

    def slices(self, model: TrainableModel) -> dict[str, np.ndarray]:
        """Per-slice ``val_ssim``, ``val_psnr`` (and ``val_recon_ssim``) of ``model``: (N,) arrays."""
        model.eval()
        out: dict[str, list[torch.Tensor]] = {}
        reconstruct = getattr(model, "reconstruct", None)
        for s in range(0, len(self), self.batch):
            bl = torch.from_numpy(self.bl[s:s + self.batch])[:, None]
            fu = torch.from_numpy(self.fu[s:s + self.batch])[:, None]
            fake = model.translate(fu, bl if self.reference else None)
            if self.passthrough is not None:
                fake = torch.where(torch.from_numpy(self.passthrough[s:s + self.batch])[:, None], fu, fake)
            a = _unit(bl)
            self._score(a, _unit(fake), out, s)
            if reconstruct is not None:
                self._score(a, _unit(reconstruct(bl)), out, s, prefix="recon_")
        model.train()
        return {f"val_{k}": torch.cat(v).numpy() for k, v in out.items()}

    def __call__(self, model: TrainableModel) -> dict[str, float]:
        """``val_ssim``, ``val_psnr`` (and ``val_recon_ssim`` if the model can reconstruct): slice means."""
        return self.summary(self.slices(model))
