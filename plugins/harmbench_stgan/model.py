"""The StarGAN v2 model of ``stgan`` as a :class:`harmbench.training.protocol.TrainableModel`.

One iteration runs discriminator and generator steps, latent- and reference-guided.

Losses (Choi et al. 2020, as configured by Liu et al. 2023):

* adversarial, non-saturating: ``softplus(-D(x)[y])`` for real, ``softplus(D(G(x, s))[y~])`` for fake;
* R1 penalty on real images, ``lambda_reg/2 * E||grad_x D(x)||²``;
* style reconstruction ``|s~ - E(G(x, s~), y~)|``;
* diversity sensitivity ``-|G(x, s~1) - G(x, s~2)|`` with a weight decayed linearly to 0;
* cycle ``|x - G(G(x, s~), E(x, y))|``.

Each iteration runs the discriminator and generator steps twice, once with the target style
from the mapping network (random latent) and once from the style encoder on a reference
image; the latent-guided generator step also updates the mapping network and style encoder.
The kit's weight average of the generator, mapping network and style encoder (``ema_beta``) is
what validation and inference use.

Targets are always another scanner than the source (:class:`harmbench_stgan.data.DomainSampler`):
with a generator that starts as the identity, a same-domain target would hand the discriminator
real images labelled fake, and half of StarGAN v2's random targets are same-domain when there
are two scanners.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from harmbench.errors import DataError
from harmbench.training.diagnostics import discriminator_stats
from harmbench.training.precision import autocast
from harmbench.training.protocol import set_mode, set_optimizer_lr
from harmbench_stgan.networks import Discriminator, Generator, MappingNetwork, StyleEncoder


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


def build_networks(*, dim: int, max_dim: int, n_down: int, style_dim: int, latent_dim: int, mapping_dim: int,
                   n_domains: int, residual: bool, domain_output: bool = False) -> dict[str, nn.Module]:
    """The four untrained StarGAN v2 networks (construction order fixes the RNG use)."""
    kw = {"dim": dim, "max_dim": max_dim, "n_down": n_down}
    return {"generator": Generator(style_dim=style_dim, residual=residual,
                                   out_heads=n_domains if domain_output else 1, **kw),
            "mapping": MappingNetwork(latent_dim=latent_dim, style_dim=style_dim, n_domains=n_domains,
                                      hidden=mapping_dim),
            "style_encoder": StyleEncoder(style_dim=style_dim, n_domains=n_domains, **kw),
            "discriminator": Discriminator(n_domains=n_domains, **kw)}


#: the accepted ``guidance`` values
GUIDANCE = ("both", "alternate", "reference")


class StarGANv2Model:
    """Networks, optimizers and the per-iteration update.

    Args:
        nets: the four networks (``build_networks``), moved to ``device``.
        device: torch device.
        lr: Adam learning rate of generator, style encoder and discriminator.
        lr_mapping: Adam learning rate of the mapping network (scaled with ``lr`` by ``set_lr``).
        betas: Adam betas.
        weight_decay: Adam weight decay (L2, as in StarGAN v2).
        weights: loss weights.
        latent_dim: size of the random latent code.
        seed: seed of the latent codes (iteration ``it`` draws from ``(seed, it)``).
        target_domain: domain index of the BL scanner (the style head ``translate`` uses).
        guidance: ``"both"`` (StarGAN v2: latent- and reference-guided steps every iteration),
            ``"alternate"`` (latent on even, reference on odd iterations: half the cost per
            iteration) or ``"reference"`` (reference-guided steps only, the path the harmonizer
            uses at test time; the style encoder is then updated in the reference-guided
            generator step, and the mapping network is not trained).
        amp_dtype: autocast dtype of the training steps' forward passes (None: fp32;
            :func:`harmbench.training.precision.amp_dtype`). bfloat16 needs no loss scaling.
    """

    generators = ("generator", "mapping", "style_encoder")

    def __init__(self, nets: dict[str, nn.Module], *, device: str, lr: float, lr_mapping: float,
                 betas: tuple[float, float], weight_decay: float, weights: LossWeights, latent_dim: int, seed: int,
                 target_domain: int, guidance: str = "both", amp_dtype: torch.dtype | None = None) -> None:
        if amp_dtype not in (None, torch.bfloat16):
            raise DataError(f"stgan: training autocast must be bfloat16 or none (no loss scaling); got {amp_dtype}")
        self.amp_dtype = amp_dtype
        if guidance not in GUIDANCE:
            raise DataError(f"stgan: guidance must be one of {GUIDANCE}; got {guidance!r}")
        self.guidance, self.device = guidance, device
        self.nets = {k: n.to(device) for k, n in nets.items()}
        self.weights, self.latent_dim, self.seed = weights, latent_dim, seed
        self.target_domain, self.lr = target_domain, lr

        def adam(module: nn.Module, rate: float) -> torch.optim.Adam:
            return torch.optim.Adam(module.parameters(), lr=rate, betas=betas, weight_decay=weight_decay)

        self.optimizers = {"generator": adam(self.nets["generator"], lr),
                           "mapping": adam(self.nets["mapping"], lr_mapping),
                           "style_encoder": adam(self.nets["style_encoder"], lr),
                           "discriminator": adam(self.nets["discriminator"], lr)}
        self._lr_scale = {"mapping": lr_mapping / lr}

    # ------------------------------------------------------------------ protocol
    def set_lr(self, lr: float) -> None:
        set_optimizer_lr(self.optimizers, lr, self._lr_scale)

    def train(self) -> None:
        set_mode(self.nets, True)

    def eval(self) -> None:
        set_mode(self.nets, False)

    @torch.no_grad()
    def translate(self, fu: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """FU (N,1,H,W) rendered with the style the style encoder reads from the BL ``reference``."""
        if reference is None:
            raise DataError("stgan: translate needs the BL reference slices")
        y = torch.full((len(fu),), self.target_domain, dtype=torch.long, device=self.device)
        s = self.nets["style_encoder"](reference.to(self.device), y)
        return self.nets["generator"](fu.to(self.device), s, y).float().cpu()

    def _target_style(self, z_or_ref: torch.Tensor, y: torch.Tensor, latent: bool) -> torch.Tensor:
        return self.nets["mapping"](z_or_ref, y) if latent else self.nets["style_encoder"](z_or_ref, y)

    def _zero(self) -> None:
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)

    def train_step(self, batch: dict[str, torch.Tensor], iteration: int) -> dict[str, float]:
        """One full iteration on a batch from :class:`harmbench_stgan.data.DomainSampler`."""
        it = iteration
        b = {k: v.to(self.device) for k, v in batch.items()}
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + it)
        bs = b["x"].shape[0]
        z1 = torch.randn(bs, self.latent_dim, generator=gen).to(self.device)
        z2 = torch.randn(bs, self.latent_dim, generator=gen).to(self.device)
        lam_ds = self.weights.ds * max(0.0, 1.0 - it / max(self.weights.ds_iterations, 1))
        logs: dict[str, float] = {}
        modes = ((True, (z1, z2)), (False, (b["x_ref"], b["x_ref2"])))
        if self.guidance == "alternate":
            modes = (modes[it % 2],)
        elif self.guidance == "reference":
            modes = (modes[1],)
        for latent, (s1, s2) in modes:
            tag = "lat" if latent else "ref"
            logs.update(self._d_step(b, s1, latent, tag))
            logs[f"G_{tag}"] = self._g_step(b, s1, s2, latent, lam_ds)
        return logs

    def _d_step(self, b: dict[str, torch.Tensor], style_src: torch.Tensor, latent: bool, tag: str
                ) -> dict[str, float]:
        d, w = self.nets["discriminator"], self.weights
        x = b["x"].detach().requires_grad_(True)
        with autocast(self.device, self.amp_dtype):
            real = d(x, b["y"])
            loss_real = F.softplus(-real.float()).mean()
            reg = r1_penalty(real, x)
            with torch.no_grad():
                fake_img = self.nets["generator"](b["x"], self._target_style(style_src, b["y_trg"], latent),
                                                  b["y_trg"])
            fake = d(fake_img, b["y_trg"]).float()
            loss = loss_real + F.softplus(fake).mean() + w.reg * reg
        self._zero()
        loss.backward()
        self.optimizers["discriminator"].step()
        return {f"D_{tag}": float(loss.detach()), **discriminator_stats(real, fake, f"D_{tag}")}

    def _g_step(self, b: dict[str, torch.Tensor], src1: torch.Tensor, src2: torch.Tensor, latent: bool,
                lam_ds: float) -> float:
        n, w = self.nets, self.weights
        x, y, y_trg = b["x"], b["y"], b["y_trg"]
        # forward passes in the autocast dtype, losses on fp32 copies (no-ops in fp32; the order of
        # the operations is that of the fp32 code, so fp32 results are unchanged)
        with autocast(self.device, self.amp_dtype):
            s_trg = self._target_style(src1, y_trg, latent)
            fake = n["generator"](x, s_trg, y_trg)
            adv = F.softplus(-n["discriminator"](fake, y_trg).float()).mean()
            sty = (n["style_encoder"](fake, y_trg).float() - s_trg.float()).abs().mean()
            loss = adv + w.sty * sty
            if lam_ds > 0:
                fake2 = n["generator"](x, self._target_style(src2, y_trg, latent), y_trg).detach()
                loss = loss - lam_ds * (fake.float() - fake2.float()).abs().mean()
            if w.cyc > 0:
                rec = n["generator"](fake, n["style_encoder"](x, y), y)
                loss = loss + w.cyc * (rec.float() - x).abs().mean()
        self._zero()
        loss.backward()
        self.optimizers["generator"].step()
        if latent:
            self.optimizers["mapping"].step()
        if latent or self.guidance == "reference":
            self.optimizers["style_encoder"].step()
        return float(loss.detach())
