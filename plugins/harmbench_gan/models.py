"""Trainable model bundles (networks + optimizers + one training step) of the GAN family.

:class:`CycleModel` covers OML-CycleGAN, CycleGAN and CycleGAN+identity (they differ only in
loss weights); :class:`Pix2PixModel` is the supervised comparator. Both satisfy
:class:`harmbench.training.protocol.TrainableModel` (``nets``, ``optimizers``, ``generators``,
``train_step``, ``set_lr``, ``translate``), so :func:`harmbench.training.loop.fit` trains them.

The training step avoids the redundant work of the reference loop (REFERENCE.md §3): the
discriminator step reuses the generator outputs of the generator step, detached, instead of
re-running both generators with autograd; generator calls on the same network are batched
(``G_A([x_B, x_A])`` gives the translation and the identity output in one pass; InstanceNorm
is per-sample, so this is exact); discriminator weights do not collect gradients during the
generator step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from harmbench.errors import DataError
from harmbench.method import check_network_size
from harmbench.training.diagnostics import discriminator_stats
from harmbench.training.precision import amp_dtype, autocast, inference_dtype
from harmbench.training.protocol import set_mode, set_optimizer_lr
from harmbench_gan import losses
from harmbench_gan.curve_init import curve_coefficients, head_values, quantile_nodes
from harmbench_gan.data import PairedSlices
from harmbench_gan.inference import compile_generator
from harmbench_gan.networks import (
    GlobalDiscriminator,
    IntensityCurve,
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    init_weights,
)


@dataclass(frozen=True)
class _GanConfig:
    """Adversarial criterion and Adam settings shared by every slice-GAN configuration."""

    gan_loss: str = "bce"
    lambda_adv: float = 1.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.99

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CycleConfig(_GanConfig):
    """Architecture and loss weights of the CycleGAN family (defaults: the paper, REFERENCE §1/§3)."""

    ngf: int = 64
    n_blocks: int = 9
    n_down: int = 2
    residual: bool = False            # quick preset only: x + f(x) generators (identity at init)
    intensity_curve: bool = False     # quick preset only: + a learned per-pixel intensity curve
    curve_lr_scale: float = 10.0      # the curve's learning rate relative to ``lr``
    curve_init: str = "zero"          # "zero" (identity start) or "quantile" (the training set's quantile map)
    ndf: int = 64
    discriminator: str = "global"     # "global" (authors) or "patch" (70x70 PatchGAN)
    d_norm: str = "instance"          # PatchGAN normalisation: "instance" or "none"
    lambda_ccl: float = 5.0
    lambda_oml: float = 10.0
    lambda_identity: float = 0.0
    oml_form: str = "paper"           # "paper" (4 terms) or "authors-code" (2 cross terms)
    pool_size: int = 0


@dataclass(frozen=True)
class Pix2PixConfig(_GanConfig):
    """Pix2Pix: unet_256 (depth 8), BatchNorm, dropout 0.5, conditional 70x70 PatchGAN, BCE, λ_L1 100."""

    ngf: int = 64
    depth: int = 8
    norm: str = "batch"
    dropout: float = 0.5
    residual: bool = False
    ndf: int = 64
    d_layers: int = 3
    lambda_l1: float = 100.0
    beta2: float = 0.999



#: Size parameters and their allowed ranges; depth/n_down also set the padding multiple 2**k.
_SIZE_LIMITS = {"ngf": (1, None), "ndf": (1, None), "n_blocks": (0, 100), "n_down": (1, 6),
                "depth": (1, 10), "d_layers": (1, 8)}


def _cycle_networks(cfg: CycleConfig) -> dict[str, nn.Module]:
    """The untrained networks of a CycleGAN-family model (construction order fixes the RNG use)."""
    gen = dict(ngf=cfg.ngf, n_blocks=cfg.n_blocks, n_down=cfg.n_down, residual=cfg.residual,
               intensity_curve=cfg.intensity_curve)
    if cfg.discriminator == "global":
        def make_d() -> nn.Module:
            return GlobalDiscriminator(ndf=cfg.ndf)
    else:
        def make_d() -> nn.Module:
            return PatchDiscriminator(ndf=cfg.ndf, norm=cfg.d_norm)
    return {"G_fu2bl": ResnetGenerator(**gen), "G_bl2fu": ResnetGenerator(**gen),
            "D_bl": make_d(), "D_fu": make_d()}


def _pix2pix_networks(cfg: Pix2PixConfig) -> dict[str, nn.Module]:
    """The untrained U-Net generator and conditional PatchGAN of a Pix2Pix model."""
    return {"G_fu2bl": UnetGenerator(ngf=cfg.ngf, depth=cfg.depth, norm=cfg.norm, dropout=cfg.dropout,
                                     residual=cfg.residual),
            "D": PatchDiscriminator(in_channels=2, ndf=cfg.ndf, n_layers=cfg.d_layers, norm=cfg.norm)}


def check_config(cfg: CycleConfig | Pix2PixConfig, method: str) -> None:
    """Validate the size parameters of ``cfg`` and the total network size before anything is allocated.

    Raises:
        DataError: a size parameter is not an integer in its range, or the networks would exceed
            :data:`harmbench.method.MAX_NETWORK_PARAMETERS` (e.g. ``ngf=100000``).
    """
    sizes = {k: getattr(cfg, k) for k in _SIZE_LIMITS if hasattr(cfg, k)}
    for k, v in sizes.items():
        lo, hi = _SIZE_LIMITS[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise DataError(f"{method}: {k} must be an integer {rng}; got {v!r}")
    if isinstance(cfg, CycleConfig) and cfg.discriminator not in ("global", "patch"):
        raise DataError(f"unknown discriminator {cfg.discriminator!r}; expected 'global' or 'patch'")
    build = _cycle_networks if isinstance(cfg, CycleConfig) else _pix2pix_networks
    with torch.device("meta"):  # shapes only: no memory, no RNG use
        nets = build(cfg)  # type: ignore[arg-type]
    n = sum(p.numel() for net in nets.values() for p in net.parameters())
    check_network_size(method, n, ", ".join(f"{k}={v}" for k, v in sizes.items()))


class ImagePool:
    """History of generated images (Shrivastava et al.); ``size=0`` returns the input unchanged."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.images = size, []  # type: ignore[var-annotated]
        self.gen = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for img in images:
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(1, generator=self.gen).item() < 0.5:
                j = int(torch.randint(0, self.size, (1,), generator=self.gen))
                out.append(self.images[j].clone())
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)


def _requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for n in nets:
        for p in n.parameters():
            p.requires_grad_(flag)


class _Base:
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generators: tuple[str, ...]
    stride: int

    def __init__(self, device: str, channels_last: bool, precision: str = "auto") -> None:
        self.device = device
        self.channels_last = channels_last
        self.amp_dtype = amp_dtype(precision, device)
        self.infer_dtype = inference_dtype(precision, device)
        self.amp = self.amp_dtype is torch.float16          # fp16 needs loss scaling; bf16 does not
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self._compiled: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}

    def _finish(self) -> None:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for n in self.nets.values():
            n.to(self.device, memory_format=fmt)

    def _in(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _autocast(self, inference: bool = False) -> contextlib.AbstractContextManager:
        """Autocast of a training step (or, ``inference``, of a forward pass that makes outputs)."""
        return autocast(self.device, self.infer_dtype if inference else self.amp_dtype)

    def _step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)

    def set_lr(self, lr: float) -> None:
        set_optimizer_lr(self.optimizers, lr)

    def train(self) -> None:
        set_mode(self.nets, True)

    def eval(self) -> None:
        set_mode(self.nets, False)

    def translate(self, fu: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """FU->BL with ``G_fu2bl`` (the kit's validation hook; no reference needed)."""
        return self.run("G_fu2bl", fu)

    @torch.inference_mode()
    def run(self, name: str, x: torch.Tensor, *, compiled: bool = False) -> torch.Tensor:
        """Run generator ``name`` on (N, 1, H, W) in [-1, 1]; returns float32 on the CPU.

        ``compiled``: use (and cache) the ``torch.compile`` version of the generator
        (:func:`harmbench_gan.inference.compile_generator`); the network must be in eval mode.
        """
        net = self.nets[name]
        if compiled:
            if name not in self._compiled:
                self._compiled[name] = compile_generator(net)
            net = self._compiled[name]
        with self._autocast(inference=True):
            y = net(self._in(x))
        return y.float().cpu().contiguous()


class CycleModel(_Base):
    """Two generators (``G_fu2bl`` = G_A, ``G_bl2fu`` = G_B) and two discriminators (``D_bl``, ``D_fu``).

    Generator objective: ``λ_adv·L_adv + λ_ccl·L_ccl + λ_oml·L_oml + λ_id·L_id`` with each term
    summed over both directions; discriminators minimise ``0.5·(GAN(real) + GAN(fake))``.
    """

    generators = ("G_fu2bl", "G_bl2fu")

    def __init__(self, cfg: CycleConfig, *, device: str = "cpu", seed: int = 0, channels_last: bool = False,
                 precision: str = "auto") -> None:
        super().__init__(device, channels_last, precision)
        if cfg.oml_form not in losses.OML_FORMS:
            raise DataError(f"unknown oml_form {cfg.oml_form!r}; expected one of {losses.OML_FORMS}")
        if cfg.discriminator not in ("global", "patch"):
            raise DataError(f"unknown discriminator {cfg.discriminator!r}; expected 'global' or 'patch'")
        self.cfg = cfg
        check_config(cfg, "cycle-gan model")
        nets = _cycle_networks(cfg)
        self.nets = {k: init_weights(n, seed=seed + i) for i, (k, n) in enumerate(nets.items())}
        self._finish()
        betas = (cfg.beta1, cfg.beta2)
        g_params = list(self.nets["G_fu2bl"].parameters()) + list(self.nets["G_bl2fu"].parameters())
        curve = {id(p) for k in self.generators for m in self.nets[k].modules() if isinstance(m, IntensityCurve)
                 for p in m.parameters()}
        groups = [{"params": [p for p in g_params if id(p) not in curve]}]
        if curve:  # a separate group only when there is a curve: optimizer state layout unchanged otherwise
            groups.append({"params": [p for p in g_params if id(p) in curve], "lr_scale": cfg.curve_lr_scale,
                           "lr": cfg.lr * cfg.curve_lr_scale})
        self.optimizers = {
            "G": torch.optim.Adam(groups, lr=cfg.lr, betas=betas),
            "D_bl": torch.optim.Adam(self.nets["D_bl"].parameters(), lr=cfg.lr, betas=betas),
            "D_fu": torch.optim.Adam(self.nets["D_fu"].parameters(), lr=cfg.lr, betas=betas),
        }
        self.gan = losses.GANLoss(cfg.gan_loss)
        self.pools = {"bl": ImagePool(cfg.pool_size, seed), "fu": ImagePool(cfg.pool_size, seed + 1)}
        self.stride = 2**cfg.n_down

    @property
    def needs_head_slices(self) -> bool:
        """Whether :meth:`init_from_data` needs the training slices' BL head masks."""
        return self.cfg.intensity_curve and self.cfg.curve_init == "quantile"

    def init_from_data(self, train: PairedSlices) -> None:
        """Start the generators' intensity curves at the training set's pooled quantile maps
        (``curve_init="quantile"``; :mod:`harmbench_gan.curve_init`); nothing otherwise."""
        if not self.needs_head_slices:
            return
        if train.head is None:
            raise DataError("curve_init='quantile' needs the training slices' head masks")
        fu, bl = head_values(train.fu, train.head), head_values(train.bl, train.head)
        for name, (src, ref) in (("G_fu2bl", (fu, bl)), ("G_bl2fu", (bl, fu))):
            curve = self.nets[name].curve
            xs, ys = quantile_nodes(src, ref)
            coef = curve_coefficients(lambda x, c=curve: c.features(x.to(c.hinges.device)).cpu(), xs, ys)
            curve.set_coefficients(coef)

    @property
    def needs_identity_outputs(self) -> bool:
        c = self.cfg
        return c.lambda_identity > 0 or (c.lambda_oml > 0 and c.oml_form == "paper")

    def reconstruct(self, bl: torch.Tensor) -> torch.Tensor:
        """BL->FU->BL (validation's ``val_recon_ssim``)."""
        return self.run("G_fu2bl", self.run("G_bl2fu", bl))

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], iteration: int) -> dict[str, float]:
        """One generator update and one update of each discriminator on (BL, FU); returns the losses
        and the discriminators' mean real/fake probabilities and accuracy."""
        x_bl, x_fu = batch
        c, gan = self.cfg, self.gan
        g_a, g_b, d_a, d_b = (self.nets[k] for k in ("G_fu2bl", "G_bl2fu", "D_bl", "D_fu"))
        x_a, x_b = self._in(x_bl), self._in(x_fu)
        n = x_a.shape[0]
        _requires_grad([d_a, d_b], False)
        with self._autocast():
            if self.needs_identity_outputs:
                fake_a, idt_a = g_a(torch.cat([x_b, x_a])).split(n)
                fake_b, idt_b = g_b(torch.cat([x_a, x_b])).split(n)
            else:
                fake_a, fake_b, idt_a, idt_b = g_a(x_b), g_b(x_a), None, None
            rec_a, rec_b = g_a(fake_b), g_b(fake_a)
            l_adv = gan(d_a(fake_a), True) + gan(d_b(fake_b), True)
            l_ccl = losses.cycle_loss(x_a, rec_a, x_b, rec_b)
            total = c.lambda_adv * l_adv + c.lambda_ccl * l_ccl
            out = {"G_adv": l_adv, "G_ccl": l_ccl}
            if c.lambda_oml > 0:
                if c.oml_form == "paper":
                    l_oml = losses.original_matching_loss(x_a, x_b, fake_a, idt_a, fake_b, idt_b)
                else:
                    l_oml = losses.original_matching_loss_code(x_a, x_b, fake_a, fake_b)
                total = total + c.lambda_oml * l_oml
                out["G_oml"] = l_oml
            if c.lambda_identity > 0:
                l_id = losses.identity_loss(x_a, x_b, idt_a, idt_b)
                total = total + c.lambda_identity * l_id
                out["G_id"] = l_id
        self._step(total, self.optimizers["G"])
        out["G_total"] = total

        _requires_grad([d_a, d_b], True)
        stats: dict[str, float] = {}
        for key, d, real, fake in (("D_bl", d_a, x_a, fake_a), ("D_fu", d_b, x_b, fake_b)):
            fake = self.pools[key[2:]].query(fake.detach())
            with self._autocast():
                logits = d(torch.cat([real, fake]))
                l_d = 0.5 * (gan(logits[:n], True) + gan(logits[n:], False))
            self._step(l_d, self.optimizers[key])
            out[key] = l_d
            stats.update(discriminator_stats(logits[:n], logits[n:], key, logits=gan.kind == "bce"))
        self.scaler.update()
        return {**{k: float(v.detach()) for k, v in out.items()}, **stats}


class Pix2PixModel(_Base):
    """U-Net generator ``G_fu2bl`` and conditional PatchGAN ``D`` on concat(FU, BL or G(FU))."""

    generators = ("G_fu2bl",)

    def __init__(self, cfg: Pix2PixConfig, *, device: str = "cpu", seed: int = 0,
                 channels_last: bool = False, precision: str = "auto") -> None:
        super().__init__(device, channels_last, precision)
        self.cfg = cfg
        check_config(cfg, "pix2pix model")
        nets = _pix2pix_networks(cfg)
        self.nets = {k: init_weights(n, seed=seed + i) for i, (k, n) in enumerate(nets.items())}
        self._finish()
        betas = (cfg.beta1, cfg.beta2)
        self.optimizers = {"G": torch.optim.Adam(self.nets["G_fu2bl"].parameters(), lr=cfg.lr, betas=betas),
                     "D": torch.optim.Adam(self.nets["D"].parameters(), lr=cfg.lr, betas=betas)}
        self.gan = losses.GANLoss(cfg.gan_loss)
        self.stride = 2**cfg.depth

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], iteration: int) -> dict[str, float]:
        """One generator and one discriminator update on (BL, FU); returns the losses and D's
        mean real/fake probabilities and accuracy."""
        x_bl, x_fu = batch
        c, gan, g, d = self.cfg, self.gan, self.nets["G_fu2bl"], self.nets["D"]
        x_a, x_b = self._in(x_bl), self._in(x_fu)
        _requires_grad([d], False)
        with self._autocast():
            fake = g(x_b)
            l_adv = gan(d(torch.cat([x_b, fake], 1)), True)
            l_l1 = losses.l1(fake, x_a)
            total = c.lambda_adv * l_adv + c.lambda_l1 * l_l1
        self._step(total, self.optimizers["G"])
        _requires_grad([d], True)
        with self._autocast():
            fake_pair = torch.cat([x_b, fake.detach()], 1)
            real_pair = torch.cat([x_b, x_a], 1)
            d_real, d_fake = d(real_pair), d(fake_pair)
            l_d = 0.5 * (gan(d_real, True) + gan(d_fake, False))
        self._step(l_d, self.optimizers["D"])
        self.scaler.update()
        return {"G_adv": float(l_adv.detach()), "G_l1": float(l_l1.detach()), "G_total": float(total.detach()),
                "D": float(l_d.detach()), **discriminator_stats(d_real, d_fake, "D", logits=gan.kind == "bce")}
