"""One StarGAN v2 training iteration: discriminator and generator steps, latent- and reference-guided.

Losses (Choi et al. 2020, as configured by Liu et al. 2023):

* adversarial, non-saturating: ``softplus(-D(x)[y])`` for real, ``softplus(D(G(x, s))[y~])`` for fake;
* R1 penalty on real images, ``lambda_reg/2 * E||grad_x D(x)||²``;
* style reconstruction ``|s~ - E(G(x, s~), y~)|``;
* diversity sensitivity ``-|G(x, s~1) - G(x, s~2)|`` with a weight decayed linearly to 0;
* cycle ``|x - G(G(x, s~), E(x, y))|``.

Each iteration runs the discriminator and generator steps twice, once with the target style
from the mapping network (random latent) and once from the style encoder on a reference
image; the latent-guided generator step also updates the mapping network and style encoder.
The EMA copies (generator, mapping network, style encoder) are what inference uses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from harmbench.errors import DataError
from harmbench_stgan.networks import Discriminator, Generator, MappingNetwork, StyleEncoder


@dataclass
class Nets:
    """The four StarGAN v2 networks."""

    generator: Generator
    mapping: MappingNetwork
    style_encoder: StyleEncoder
    discriminator: Discriminator

    def ema_copy(self) -> Nets:
        """Copies of generator, mapping network and style encoder (the discriminator is shared)."""
        return Nets(copy.deepcopy(self.generator), copy.deepcopy(self.mapping),
                    copy.deepcopy(self.style_encoder), self.discriminator)


@dataclass(frozen=True)
class LossWeights:
    """Loss weights; ``ds`` is the initial diversity weight, decayed to 0 over ``ds_iterations``."""

    reg: float = 1.0
    sty: float = 1.0
    ds: float = 1.0
    cyc: float = 1.0
    ds_iterations: int = 100_000


def r1_penalty(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """0.5 * mean over the batch of the squared gradient norm of the real logits w.r.t. the input."""
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean()


class StarGANv2Trainer:
    """Optimizers, EMA and the per-iteration update.

    Args:
        nets: the networks being trained (on ``device``).
        lr: Adam learning rate of generator, style encoder and discriminator.
        lr_mapping: Adam learning rate of the mapping network.
        betas: Adam betas.
        weight_decay: Adam weight decay (L2, as in StarGAN v2).
        weights: loss weights.
        ema_beta: EMA decay of the inference copies.
        latent_dim: size of the random latent code.
        seed: seed of the latent codes (iteration ``it`` draws from ``(seed, it)``).
        guidance: ``"both"`` (StarGAN v2: latent- and reference-guided steps every iteration) or
            ``"alternate"`` (latent on even, reference on odd iterations: half the cost per iteration).
    """

    def __init__(self, nets: Nets, *, lr: float, lr_mapping: float, betas: tuple[float, float],
                 weight_decay: float, weights: LossWeights, ema_beta: float, latent_dim: int, seed: int,
                 guidance: str = "both") -> None:
        if guidance not in ("both", "alternate"):
            raise DataError(f"stgan: guidance must be 'both' or 'alternate'; got {guidance!r}")
        self.guidance = guidance
        self.nets, self.weights, self.ema_beta = nets, weights, ema_beta
        self.latent_dim, self.seed = latent_dim, seed
        self.ema = nets.ema_copy()
        for m in (self.ema.generator, self.ema.mapping, self.ema.style_encoder):
            m.requires_grad_(False)

        def adam(module: nn.Module, rate: float) -> torch.optim.Adam:
            return torch.optim.Adam(module.parameters(), lr=rate, betas=betas, weight_decay=weight_decay)

        self.opt = {"generator": adam(nets.generator, lr), "mapping": adam(nets.mapping, lr_mapping),
                    "style_encoder": adam(nets.style_encoder, lr),
                    "discriminator": adam(nets.discriminator, lr)}

    def _zero(self) -> None:
        for o in self.opt.values():
            o.zero_grad(set_to_none=True)

    def _target_style(self, z_or_ref: torch.Tensor, y: torch.Tensor, latent: bool) -> torch.Tensor:
        n = self.nets
        return n.mapping(z_or_ref, y) if latent else n.style_encoder(z_or_ref, y)

    def step(self, batch: dict[str, torch.Tensor], it: int) -> dict[str, float]:
        """One full iteration on a batch from :class:`harmbench_stgan.data.DomainSampler`."""
        device = next(self.nets.generator.parameters()).device
        b = {k: v.to(device) for k, v in batch.items()}
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + it)
        bs = b["x"].shape[0]
        z1 = torch.randn(bs, self.latent_dim, generator=gen).to(device)
        z2 = torch.randn(bs, self.latent_dim, generator=gen).to(device)
        lam_ds = self.weights.ds * max(0.0, 1.0 - it / max(self.weights.ds_iterations, 1))
        logs: dict[str, float] = {}
        modes = ((True, (z1, z2)), (False, (b["x_ref"], b["x_ref2"])))
        if self.guidance == "alternate":
            modes = (modes[it % 2],)
        for latent, (s1, s2) in modes:
            tag = "lat" if latent else "ref"
            logs[f"d_{tag}"] = self._d_step(b, s1, latent)
            logs[f"g_{tag}"] = self._g_step(b, s1, s2, latent, lam_ds)
        self._update_ema()
        return logs

    def _d_step(self, b: dict[str, torch.Tensor], style_src: torch.Tensor, latent: bool) -> float:
        n, w = self.nets, self.weights
        x = b["x"].detach().requires_grad_(True)
        real = n.discriminator(x, b["y"])
        loss_real = F.softplus(-real).mean()
        reg = r1_penalty(real, x)
        with torch.no_grad():
            fake_img = n.generator(b["x"], self._target_style(style_src, b["y_trg"], latent))
        loss_fake = F.softplus(n.discriminator(fake_img, b["y_trg"])).mean()
        loss = loss_real + loss_fake + w.reg * reg
        self._zero()
        loss.backward()
        self.opt["discriminator"].step()
        return float(loss.detach())

    def _g_step(self, b: dict[str, torch.Tensor], src1: torch.Tensor, src2: torch.Tensor, latent: bool,
                lam_ds: float) -> float:
        n, w = self.nets, self.weights
        x, y, y_trg = b["x"], b["y"], b["y_trg"]
        s_trg = self._target_style(src1, y_trg, latent)
        fake = n.generator(x, s_trg)
        adv = F.softplus(-n.discriminator(fake, y_trg)).mean()
        sty = (n.style_encoder(fake, y_trg) - s_trg).abs().mean()
        loss = adv + w.sty * sty
        if lam_ds > 0:
            fake2 = n.generator(x, self._target_style(src2, y_trg, latent)).detach()
            loss = loss - lam_ds * (fake - fake2).abs().mean()
        if w.cyc > 0:
            rec = n.generator(fake, n.style_encoder(x, y))
            loss = loss + w.cyc * (rec - x).abs().mean()
        self._zero()
        loss.backward()
        self.opt["generator"].step()
        if latent:
            self.opt["mapping"].step()
            self.opt["style_encoder"].step()
        return float(loss.detach())

    @torch.no_grad()
    def _update_ema(self) -> None:
        for name in ("generator", "mapping", "style_encoder"):
            src, dst = getattr(self.nets, name), getattr(self.ema, name)
            for p, q in zip(src.parameters(), dst.parameters()):
                q.lerp_(p, 1.0 - self.ema_beta)
            for bsrc, bdst in zip(src.buffers(), dst.buffers()):
                bdst.copy_(bsrc)
