"""The ``stgan`` method: StarGAN v2 style transfer to the patient's own baseline (Liu et al. 2023)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harmbench.artifacts import load_state_dict_checked
from harmbench.errors import ArtifactError, DataError
from harmbench.masking import head_mask
from harmbench.method import BaseMethod, Capabilities, check_network_size
from harmbench.slices import from_axial_stack, slice_indices_world, to_axial_stack
from harmbench.volume import Volume
from harmbench_stgan.data import DomainSlices, pad, padded_size, to_signed, to_unit

if TYPE_CHECKING:
    import torch

    from harmbench.cohort import Case, Cohort
    from harmbench_stgan.trainer import Nets

INFERENCE_NETS = ("generator", "mapping", "style_encoder")


class StyleTransferGAN(BaseMethod):
    """Style-transfer GAN harmonization (the paper's "unsupervised STGAN" comparator).

    **Which method.** Hwang et al. (Sci Rep 2026) cite Gao et al. (IEEE TMI 2019) for STGAN,
    but describe an *unsupervised* STGAN whose original implementation defaults include skull
    stripping and MNI registration. Gao et al. is a weakly-paired many-to-one CycleGAN with no
    public code; the description matches the style-transfer GAN of Liu et al., Hum Brain Mapp
    2023 (doi:10.1002/hbm.26422), which harmonizes an image to the style of a single reference
    image and is built on StarGAN v2 (Choi et al., CVPR 2020). We implement the latter.

    **Model.** Mapping network, style encoder, AdaIN generator and a multi-domain
    discriminator whose domains are the training scanners (see
    :mod:`harmbench_stgan.networks` and :mod:`harmbench_stgan.trainer`). Losses: non-saturating
    adversarial + R1 (``lambda_reg``), style reconstruction (``lambda_sty``), diversity
    (``lambda_ds``, linearly decayed to 0 over ``ds_iterations``), cycle (``lambda_cyc``);
    EMA generator/mapping/style encoder (``ema_beta``). Training is unpaired: pairing is
    used only to select the checkpoint on the validation split (volume PSNR of FU->BL vs BL).

    **Head-to-head use.** The style code comes from the patient's own baseline: for every
    axial slice of the FU image, the EMA style encoder reads the BL slice at the same
    position (FU is registered to BL) under the BL scanner's domain head, and the EMA
    generator renders the FU slice with that style. Hence ``needs_reference=True``. Voxels
    outside the FU head mask are passed through unchanged. ``inverse_transform`` renders a BL
    image with the mean FU-scanner style code of the training slices (BL->FU->BL checks).

    Every architecture/schedule parameter defaults to None, meaning "take it from ``preset``";
    a value given explicitly overrides the preset (see :meth:`config`). ``image_size`` and
    ``crop`` use 0 for "none".

    Args:
        preset: ``"paper"`` (published settings), ``"quick"`` (CPU budget) or ``"tiny"`` (tests).
        dim: channels of the first generator/encoder/discriminator layer (doubling per downsampling).
        max_dim: channel cap.
        n_down: number of 2x downsamplings (slices are padded to a multiple of ``2**n_down``).
        style_dim: style code size.
        latent_dim: random latent size of the mapping network.
        mapping_dim: hidden width of the mapping network.
        residual: generator adds its output to the input, last layer zero-initialised (starts
            as the identity). Off in ``paper`` (StarGAN v2 has no such skip); on in ``quick``,
            where a few hundred CPU iterations cannot first learn to reproduce anatomy.
        image_size: square network input size in pixels (slices are centred and padded), or 0
            to pad each slice only to the next multiple of ``2**n_down``.
        iterations: training iterations.
        guidance: ``"both"`` (StarGAN v2: latent- and reference-guided D and G steps every
            iteration) or ``"alternate"`` (one of the two per iteration, half the cost).
        batch_size: slices per batch.
        crop: random square training crop in pixels, or 0 for whole (padded) slices.
        lr, lr_mapping: Adam learning rates (networks / mapping network).
        beta1, beta2: Adam betas.
        weight_decay: Adam weight decay.
        lambda_reg, lambda_sty, lambda_ds, lambda_cyc: loss weights.
        ds_iterations: iterations over which ``lambda_ds`` decays to 0.
        ema_beta: EMA decay.
        val_every: validate (and keep the best EMA checkpoint) every this many iterations.
        val_slices: slices per validation case (evenly spaced within the kept range).
        seed: seeds initialisation, batches and latent codes.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.
        work_dir: checkpoint folder; a fit interrupted after a validation point resumes from
            it (:mod:`harmbench_stgan.checkpoint`). None: no checkpoints.
    """

    name = "stgan"
    capabilities = Capabilities(needs_training=True, needs_reference=True, min_subjects_per_site=1,
                                supports_gpu=True, has_inverse=True, deterministic=True)
    artifact_version = 1
    presets = {
        # Published settings (REFERENCE.md §5; StarGAN v2 widths at 256²; 100k iterations).
        "paper": {"dim": 64, "max_dim": 512, "n_down": 4, "style_dim": 64, "latent_dim": 16,
                  "mapping_dim": 512,
                  "residual": False, "image_size": 256, "iterations": 100_000, "guidance": "both",
                  "batch_size": 8, "crop": 0, "lr": 1e-4, "lr_mapping": 1e-6, "ds_iterations": 100_000,
                  "ema_beta": 0.999, "val_every": 5_000, "val_slices": 64},
        # CPU budget (<= 4 min of training on synth-quick): narrow nets, native 2 mm slices.
        "quick": {"dim": 16, "max_dim": 64, "n_down": 2, "style_dim": 16, "latent_dim": 8, "mapping_dim": 64,
                  "residual": True, "image_size": 0, "iterations": 300, "guidance": "alternate",
                  "batch_size": 8, "crop": 64, "lr": 2e-4, "lr_mapping": 1e-5, "ds_iterations": 150,
                  "ema_beta": 0.95, "val_every": 50, "val_slices": 16},
        # Conformance / smoke tests: trains 4 iterations in seconds.
        "tiny": {"dim": 8, "max_dim": 16, "n_down": 2, "style_dim": 8, "latent_dim": 4, "mapping_dim": 16,
                 "residual": True, "image_size": 0, "iterations": 4, "guidance": "both", "batch_size": 4,
                 "crop": 0, "lr": 1e-3, "lr_mapping": 1e-5, "ds_iterations": 4, "ema_beta": 0.5,
                 "val_every": 2, "val_slices": 4},
    }

    def __init__(self, *, preset: str = "paper", dim: int | None = None, max_dim: int | None = None,
                 n_down: int | None = None, style_dim: int | None = None, latent_dim: int | None = None,
                 mapping_dim: int | None = None, residual: bool | None = None, image_size: int | None = None,
                 iterations: int | None = None, guidance: str | None = None, batch_size: int | None = None,
                 crop: int | None = None, lr: float | None = None, lr_mapping: float | None = None,
                 beta1: float = 0.0, beta2: float = 0.99, weight_decay: float = 1e-4, lambda_reg: float = 1.0,
                 lambda_sty: float = 1.0, lambda_ds: float = 1.0, lambda_cyc: float = 1.0,
                 ds_iterations: int | None = None, ema_beta: float | None = None,
                 val_every: int | None = None, val_slices: int | None = None, seed: int = 0,
                 device: str = "auto", work_dir: str | None = None) -> None:
        self.preset = preset
        self.dim = dim
        self.max_dim = max_dim
        self.n_down = n_down
        self.style_dim = style_dim
        self.latent_dim = latent_dim
        self.mapping_dim = mapping_dim
        self.residual = residual
        self.image_size = image_size
        self.iterations = iterations
        self.guidance = guidance
        self.batch_size = batch_size
        self.crop = crop
        self.lr = lr
        self.lr_mapping = lr_mapping
        self.beta1 = beta1
        self.beta2 = beta2
        self.weight_decay = weight_decay
        self.lambda_reg = lambda_reg
        self.lambda_sty = lambda_sty
        self.lambda_ds = lambda_ds
        self.lambda_cyc = lambda_cyc
        self.ds_iterations = ds_iterations
        self.ema_beta = ema_beta
        self.val_every = val_every
        self.val_slices = val_slices
        self.seed = seed
        self.device = device
        self.work_dir = work_dir

    def config(self) -> dict[str, Any]:
        """Effective settings: the preset's values, overridden by every parameter that is not None."""
        if self.preset not in self.presets:
            raise DataError(f"stgan: unknown preset {self.preset!r}; expected one of {sorted(self.presets)}")
        cfg = dict(self.presets[self.preset])
        for k in cfg:
            v = getattr(self, k)
            if v is not None:
                cfg[k] = v
        cfg["image_size"] = int(cfg["image_size"]) or None
        cfg["crop"] = int(cfg["crop"]) or None
        for k in ("dim", "max_dim", "n_down", "style_dim", "latent_dim", "mapping_dim", "iterations",
                  "batch_size", "ds_iterations", "val_every", "val_slices"):
            cfg[k] = int(cfg[k])
        for k in ("lr", "lr_mapping", "ema_beta"):
            cfg[k] = float(cfg[k])
        cfg["residual"] = bool(cfg["residual"])
        if min(cfg["n_down"], cfg["dim"], cfg["style_dim"], cfg["iterations"], cfg["batch_size"]) < 1:
            raise DataError(f"stgan: n_down, dim, style_dim, iterations and batch_size must be >= 1; got "
                            f"{[cfg[k] for k in ('n_down', 'dim', 'style_dim', 'iterations', 'batch_size')]}")
        # slices are padded to a multiple of 2**n_down (or to image_size): keep both sane
        if cfg["n_down"] > 8:
            raise DataError(f"stgan: n_down must be <= 8; got {cfg['n_down']}")
        if cfg["image_size"] is not None and not 0 < cfg["image_size"] <= 4096:
            raise DataError(f"stgan: image_size must be in [1, 4096] (or 0: none); got {cfg['image_size']}")
        if min(cfg["max_dim"], cfg["latent_dim"], cfg["mapping_dim"]) < 1:
            raise DataError(f"stgan: max_dim, latent_dim and mapping_dim must be >= 1; got "
                            f"{[cfg[k] for k in ('max_dim', 'latent_dim', 'mapping_dim')]}")
        return cfg

    def check_params(self) -> None:
        """Settings and network size (for two scanners), before anything is allocated."""
        self._build(2, probe_only=True)

    # ------------------------------------------------------------------ networks
    def _build(self, n_domains: int, *, probe_only: bool = False) -> Nets:
        import torch

        from harmbench_stgan.networks import Discriminator, Generator, MappingNetwork, StyleEncoder
        from harmbench_stgan.trainer import Nets

        c = self.config()
        kw = {"dim": c["dim"], "max_dim": c["max_dim"], "n_down": c["n_down"]}

        def make() -> Nets:
            return Nets(
                generator=Generator(style_dim=c["style_dim"], residual=c["residual"], **kw),
                mapping=MappingNetwork(latent_dim=c["latent_dim"], style_dim=c["style_dim"],
                                       n_domains=n_domains, hidden=c["mapping_dim"]),
                style_encoder=StyleEncoder(style_dim=c["style_dim"], n_domains=n_domains, **kw),
                discriminator=Discriminator(n_domains=n_domains, **kw),
            )

        with torch.device("meta"):  # count parameters before allocating anything (e.g. dim=100000)
            probe = make()
        n = sum(p.numel() for m in vars(probe).values() for p in m.parameters())
        check_network_size("stgan", n, ", ".join(f"{k}={c[k]}" for k in
                                                 ("dim", "max_dim", "n_down", "style_dim", "mapping_dim")))
        if probe_only:
            return probe
        torch.manual_seed(int(self.seed))
        return make()

    # ------------------------------------------------------------------ fitting
    def _fit(self, cohort: Cohort) -> None:
        from harmbench.console import progress
        from harmbench.device import select_device
        from harmbench_stgan import checkpoint
        from harmbench_stgan.trainer import LossWeights, StarGANv2Trainer

        train = cohort.train
        domains = sorted({r.scanner for c in train for r in c.sessions.values()})
        bl = sorted({c.ref("BL").scanner for c in train if c.has("BL")})
        if not bl:
            raise DataError("stgan: the training split has no BL images")
        if len(domains) < 2:
            raise DataError(f"stgan: needs >= 2 scanners (domains) in training; got {domains}")
        device = select_device(self.device)
        c = self.config()
        data = DomainSlices.from_cases(train, domains, multiple=2 ** c["n_down"], image_size=c["image_size"])
        nets = self._build(len(domains))
        for m in vars(nets).values():
            m.to(device)
        weights = LossWeights(reg=float(self.lambda_reg), sty=float(self.lambda_sty),
                              ds=float(self.lambda_ds), cyc=float(self.lambda_cyc),
                              ds_iterations=c["ds_iterations"])
        trainer = StarGANv2Trainer(
            nets, lr=c["lr"], lr_mapping=c["lr_mapping"], betas=(float(self.beta1), float(self.beta2)),
            weight_decay=float(self.weight_decay), ema_beta=c["ema_beta"], latent_dim=c["latent_dim"],
            seed=int(self.seed), guidance=c["guidance"], weights=weights)
        self.domains_ = domains
        self.bl_domain_ = max(bl, key=lambda s: sum(c.has("BL") and c.ref("BL").scanner == s for c in train))
        self.nets_ = trainer.ema
        val = self._val_stacks([c for c in cohort.val if c.has("BL") and c.has("FU")])
        sampler = data.sampler(batch_size=c["batch_size"], seed=int(self.seed), crop=c["crop"])
        best: tuple[float, dict[str, Any]] | None = None
        history: list[dict[str, float]] = []
        self.val_psnr_identity_ = self._validate(val, identity=True) if val else None
        n_it, every = c["iterations"], c["val_every"]
        work_dir = Path(self.work_dir) if self.work_dir is not None else None
        fingerprint = {"config": c, "domains": domains, "n_slices": len(data), "seed": int(self.seed),
                       "weights": [float(self.lambda_reg), float(self.lambda_sty), float(self.lambda_ds),
                                   float(self.lambda_cyc), float(self.beta1), float(self.beta2),
                                   float(self.weight_decay)],
                       "dataset": cohort.dataset_hash or cohort.name}
        start = 0
        if work_dir is not None:
            restored = checkpoint.load(work_dir, trainer, fingerprint)
            if restored is not None:
                start, history, best = restored
        with progress() as bar:
            task = bar.add_task(f"stgan: training {n_it} iterations", total=n_it, completed=start)
            for it in range(start, n_it):
                logs = trainer.step(sampler.batch(it), it)
                bar.advance(task)
                last = it + 1 == n_it
                if val and (last or (every > 0 and (it + 1) % every == 0)):
                    score = self._validate(val)
                    history.append({"iteration": it + 1, "val_psnr": score, **logs})
                    if best is None or score > best[0]:
                        best = (score, {k: copy.deepcopy(getattr(trainer.ema, k).state_dict())
                                        for k in INFERENCE_NETS})
                    if work_dir is not None:
                        checkpoint.save(work_dir, trainer, iteration=it + 1, history=history, best=best,
                                        fingerprint=fingerprint)
        if best is not None:
            for k in INFERENCE_NETS:
                getattr(self.nets_, k).load_state_dict(best[1][k])
        for k in INFERENCE_NETS:
            getattr(self.nets_, k).to("cpu").eval()
        self.nets_.discriminator = None  # type: ignore[assignment]  # not needed for inference
        self.history_ = history
        self.mean_styles_ = self._mean_styles(data)

    def _val_stacks(self, cases: list[Case]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(FU, BL) axial stacks of up to ``val_slices`` evenly spaced kept slices per validation case."""
        out = []
        for c in cases:
            bl, fu = c.volume("BL"), c.volume("FU")
            idx = list(slice_indices_world(bl, c.slice_range))
            k = self.config()["val_slices"]
            if 0 < k < len(idx):
                idx = [idx[i] for i in np.linspace(0, len(idx) - 1, k).round().astype(int)]
            out.append((to_axial_stack(fu)[idx], to_axial_stack(bl)[idx]))
        return out

    def _validate(self, stacks: list[tuple[np.ndarray, np.ndarray]], *, identity: bool = False) -> float:
        """Mean PSNR (data range 1) of FU->BL (or, with ``identity``, of FU) vs BL over validation stacks."""
        scores = []
        for fu, bl in stacks:
            out = fu if identity else self._translate(fu, bl, self.domains_.index(self.bl_domain_))
            mse = float(np.mean((out - bl) ** 2))
            scores.append(10 * np.log10(1.0 / max(mse, 1e-12)))
        return float(np.mean(scores))

    def _mean_styles(self, data: DomainSlices) -> np.ndarray:
        """(n_domains, style_dim) mean EMA style code of up to 256 training slices per domain."""
        import torch

        enc = self.nets_.style_encoder
        dev = next(enc.parameters()).device
        out = np.zeros((len(self.domains_), self.config()["style_dim"]), np.float32)
        with torch.no_grad():
            for d in range(len(self.domains_)):
                ix = np.flatnonzero(data.domains == d)[:: max(1, int(np.sum(data.domains == d)) // 256)]
                codes = []
                for chunk in np.array_split(ix, max(1, len(ix) // 32)):
                    x = torch.from_numpy(data.images[chunk])[:, None].to(dev)
                    y = torch.full((len(chunk),), d, dtype=torch.long, device=dev)
                    codes.append(enc(x, y).cpu().numpy())
                out[d] = np.concatenate(codes).mean(0)
        return out

    # ------------------------------------------------------------------ inference
    def _translate(self, src: np.ndarray, style_src: np.ndarray | None, domain: int,
                   style: np.ndarray | None = None, chunk: int = 16) -> np.ndarray:
        """Render (n, h, w) [0, 1] slices with styles from ``style_src`` slices (or a fixed ``style``)."""
        import torch

        nets = self.nets_
        dev = next(nets.generator.parameters()).device
        n, h, w = src.shape
        c = self.config()
        size = padded_size(h, w, 2 ** c["n_down"], c["image_size"])
        x_all, crop = pad(to_signed(src), size)
        r_all = pad(to_signed(style_src), size)[0] if style_src is not None else None
        out = np.empty((n, h, w), np.float32)
        with torch.no_grad():
            for lo in range(0, n, chunk):
                x = torch.from_numpy(x_all[lo:lo + chunk])[:, None].to(dev)
                y = torch.full((len(x),), domain, dtype=torch.long, device=dev)
                if r_all is not None:
                    s = nets.style_encoder(torch.from_numpy(r_all[lo:lo + chunk])[:, None].to(dev), y)
                else:
                    s = torch.from_numpy(np.repeat(style[None], len(x), 0)).to(dev)
                g = nets.generator(x, s)[:, 0, crop[0], crop[1]]
                out[lo:lo + len(x)] = to_unit(g.cpu().numpy())
        return out

    def _domain_of(self, vol: Volume, default: str) -> int:
        scanner = vol.meta.get("scanner", default)
        if scanner not in self.domains_:
            raise DataError(f"stgan: scanner {scanner!r} was not a training domain; known: {self.domains_}")
        return self.domains_.index(scanner)

    def _finish(self, src: Volume, stack: np.ndarray) -> Volume:
        out = from_axial_stack(np.clip(stack, 0.0, None), src)
        keep = ~head_mask(src.data)
        out[keep] = src.data[keep]
        return src.with_data(out.astype(np.float32))

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        assert reference is not None  # guaranteed by BaseMethod.transform
        d = self._domain_of(reference, self.bl_domain_)
        stack = self._translate(to_axial_stack(fu), to_axial_stack(reference), d)
        return self._finish(fu, stack)

    def _inverse_transform(self, bl: Volume) -> Volume:
        others = [s for s in self.domains_ if s != self.bl_domain_]
        if len(others) != 1:
            raise DataError(f"stgan: inverse needs exactly one FU scanner domain; got {others}")
        d = self.domains_.index(others[0])
        stack = self._translate(to_axial_stack(bl), None, d, style=self.mean_styles_[d])
        return self._finish(bl, stack)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        return {"torch": {k: getattr(self.nets_, k).state_dict() for k in INFERENCE_NETS},
                "arrays": {"mean_styles": self.mean_styles_},
                "json": {"domains": list(self.domains_), "bl_domain": self.bl_domain_,
                         "history": self.history_,
                         "val_psnr_identity": self.val_psnr_identity_}}

    def _set_state(self, state: dict[str, Any]) -> None:
        meta = state["json"]
        self.domains_ = list(meta["domains"])
        self.bl_domain_ = meta["bl_domain"]
        self.history_ = list(meta.get("history", []))
        self.val_psnr_identity_ = meta.get("val_psnr_identity")
        self.mean_styles_ = np.asarray(state["arrays"]["mean_styles"], dtype=np.float32)
        want = (len(self.domains_), self.config()["style_dim"])
        if self.mean_styles_.shape != want:
            raise ArtifactError(f"stgan: saved mean_styles has shape {self.mean_styles_.shape}; "
                                f"expected {want}")
        nets = self._build(len(self.domains_))
        for k in INFERENCE_NETS:
            if k not in state.get("torch", {}):
                raise ArtifactError(f"stgan: saved model lacks network {k!r}")
            load_state_dict_checked(getattr(nets, k), state["torch"][k], f"stgan {k}")
            getattr(nets, k).eval()
        nets.discriminator = None  # type: ignore[assignment]
        self.nets_ = nets
