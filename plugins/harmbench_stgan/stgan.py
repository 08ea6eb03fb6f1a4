"""The ``stgan`` method: StarGAN v2 style transfer to the patient's own baseline (Liu et al. 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from harmbench.artifacts import load_state_dict_checked
from harmbench.data.cohort import Case, Cohort
from harmbench.device import select_device
from harmbench.errors import ArtifactError, DataError
from harmbench.masking import head_mask
from harmbench.method import BaseMethod, Capabilities, check_network_size
from harmbench.slices import from_axial_stack, slice_indices_world, to_axial_stack
from harmbench.training.history import TrainingHistory
from harmbench.training.inference import harmonize_stack
from harmbench.training.loop import LoopConfig, Selection, fit
from harmbench.training.precision import amp_dtype
from harmbench.training.stopping import Patience
from harmbench.training.scaling import pad_stack, to_signed
from harmbench.training.validation import SliceValidator
from harmbench.volume import Volume
from harmbench_stgan.data import DomainSlices
from harmbench_stgan.model import LossWeights, StarGANv2Model, build_networks
from harmbench_stgan.presets import PARAMETER_CONSTRAINTS, PRESETS

INFERENCE_NETS = ("generator", "mapping", "style_encoder")
#: the best validation PSNR among the points that keep validation SSIM within 0.01 of the identity's
SELECTION = Selection(metric="val_psnr", tiebreak="val_ssim", mode="max", guard="val_ssim", guard_tolerance=0.01)
#: validation points in the trailing mean of the patience rule (as for the CycleGAN family)
SMOOTHING_WINDOW = 3
#: smallest validation PSNR gain (dB) over the identity map that counts as moving off it
IDENTITY_FLOOR_DB = 0.05

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
    :mod:`harmbench_stgan.networks` and :mod:`harmbench_stgan.model`). Losses: non-saturating
    adversarial + R1 (``lambda_reg``), style reconstruction (``lambda_sty``), diversity
    (``lambda_ds``, linearly decayed to 0 over ``ds_iterations``), cycle (``lambda_cyc``);
    EMA generator/mapping/style encoder (``ema_beta``). Training runs on the shared kit
    (:func:`harmbench.training.loop.fit`) and is unpaired.

    **Model selection.** Validation slice PSNR of FU->BL vs BL (style from the paired BL) is
    recorded every ``val_every`` iterations in ``training_history_`` together with the
    identity's score, after passing the FU through outside its head mask as ``transform`` does.
    The fit keeps the (EMA) point with the best validation PSNR among those whose validation
    SSIM stays within 0.01 of the identity map's (:data:`SELECTION`; a contrast gain bought with
    structural damage is not selected). It also compares the chosen point with the identity map
    on the validation slices and warns (``NearIdentityWarning``, ``near_identity`` in the
    history) when it is within noise of it (gain below twice the standard error or
    :data:`IDENTITY_FLOOR_DB`); the ``quick`` fit stops after ``time_cap`` seconds (600, like the
    CycleGAN family; host-dependent).

    **Departures from StarGAN v2 in ``quick``** (``paper`` has none): a residual generator that
    starts as the identity; one generator output layer per target scanner (``domain_output``),
    because with StarGAN v2's single output layer shared by both directions the two directions'
    gradients cancel at the identity start and a CPU-length run never leaves it (issue #20; toy
    pair and synth-quick screening in ``docs/methods-gan.md``); R1 and cycle weights 10 instead
    of 1 (steadier in a short run); 48-px crops, narrow nets, 250 iterations.

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
        preset: ``"quick"`` (CPU budget; default, like the other deep methods), ``"paper"``
            (published settings) or ``"tiny"`` (tests).
        dim: channels of the first generator/encoder/discriminator layer (doubling per downsampling).
        max_dim: channel cap.
        n_down: number of 2x downsamplings (slices are padded to a multiple of ``2**n_down``).
        style_dim: style code size.
        latent_dim: random latent size of the mapping network.
        mapping_dim: hidden width of the mapping network.
        residual: generator adds its output to the input, last layer zero-initialised (starts
            as the identity). Off in ``paper`` (StarGAN v2 has no such skip); on in ``quick``,
            where a few hundred CPU iterations cannot first learn to reproduce anatomy.
        domain_output: one generator output layer per target scanner instead of one shared by
            all directions (on in ``quick``; off in ``paper``, as in StarGAN v2).
        image_size: square network input size in pixels (slices are centred and padded), or 0
            to pad each slice only to the next multiple of ``2**n_down``.
        iterations: training iterations.
        guidance: ``"both"`` (StarGAN v2: latent- and reference-guided D and G steps every
            iteration), ``"alternate"`` (one of the two per iteration, half the cost) or
            ``"reference"`` (reference-guided steps only, the path used at test time; the style
            encoder is then trained in the generator step and the mapping network not at all).
        paired_reference: take the style reference of a training slice from the same subject's
            image on the other scanner at the same position (FU <-> BL, FU2 -> FU), as at test
            time, instead of a random slice of the target scanner. Losses stay unpaired.
        batch_size: slices per batch.
        crop: random square training crop in pixels, or 0 for whole (padded) slices.
        lr, lr_mapping: Adam learning rates (networks / mapping network).
        beta1, beta2: Adam betas.
        weight_decay: Adam weight decay.
        lambda_reg: R1 weight (from the preset: 1 in ``paper`` as in StarGAN v2, 10 in ``quick``).
        lambda_sty, lambda_ds: loss weights.
        lambda_cyc: cycle weight (from the preset: 1 in ``paper`` as in StarGAN v2, 10 in ``quick``).
        ds_iterations: iterations over which ``lambda_ds`` decays to 0.
        ema_beta: EMA decay.
        val_every: validate, log and checkpoint every this many iterations.
        val_slices: slices per validation case (evenly spaced within the kept range).
        decay_start: fraction of ``iterations`` after which the lr decays linearly to 0 (1: constant,
            as in StarGAN v2).
        patience: stop once the validation PSNR, smoothed over 3 points, has not improved by
            ``min_delta`` dB for this many points, never before half of ``iterations`` (0: run to the cap).
        min_delta: improvement (dB) the patience rule needs.
        time_cap: stop after the first validation point past this many seconds of training (0: none).
        seed: seeds initialisation, batches and latent codes.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.
        precision: autocast of the training steps (:mod:`harmbench.training.precision`):
            ``"auto"`` (bfloat16 on a CPU with native bf16 units, fp32 elsewhere, on CUDA too:
            the R1 penalty's double backward is not loss-scaled, so there is no fp16 path),
            ``"fp32"`` or ``"mixed"`` (bfloat16 on the CPU or CUDA). Validation and
            harmonization run in fp32.
        work_dir: checkpoint folder; a fit interrupted after a validation point resumes from
            it exactly (:mod:`harmbench.training.checkpoint`). None: a temporary folder.
    """

    name = "stgan"
    capabilities = Capabilities(needs_training=True, needs_reference=True, min_subjects_per_site=1,
                                supports_gpu=True, has_inverse=True, deterministic=True)
    artifact_version = 3
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    _parameter_constraints: ClassVar[dict[str, list]] = PARAMETER_CONSTRAINTS

    def __init__(self, *, preset: str = "quick", dim: int | None = None, max_dim: int | None = None,
                 n_down: int | None = None, style_dim: int | None = None, latent_dim: int | None = None,
                 mapping_dim: int | None = None, residual: bool | None = None,
                 domain_output: bool | None = None, image_size: int | None = None,
                 iterations: int | None = None, guidance: str | None = None,
                 paired_reference: bool | None = None, batch_size: int | None = None,
                 crop: int | None = None, lr: float | None = None, lr_mapping: float | None = None,
                 beta1: float = 0.0, beta2: float = 0.99, weight_decay: float = 1e-4, lambda_reg: float | None = None,
                 lambda_sty: float = 1.0, lambda_ds: float = 1.0, lambda_cyc: float | None = None,
                 ds_iterations: int | None = None, ema_beta: float | None = None,
                 val_every: int | None = None, val_slices: int | None = None,
                 decay_start: float | None = None, patience: int | None = None, min_delta: float | None = None, time_cap: float | None = None,
                 seed: int = 0,
                 device: str = "auto", precision: str = "auto", work_dir: str | None = None) -> None:
        for name in self._param_names():
            setattr(self, name, locals()[name])

    def config(self) -> dict[str, Any]:
        """Effective settings: the preset's values, overridden by every parameter that is not None.

        ``image_size`` and ``crop`` of 0 become None ("none"). The declared constraints are
        checked first, so a value out of range fails here with one line.
        """
        BaseMethod.check_params(self)
        if self.preset not in self.presets:
            raise DataError(f"stgan: unknown preset {self.preset!r}; expected one of {sorted(self.presets)}")
        cfg = {k: (v if getattr(self, k) is None else getattr(self, k)) for k, v in self.presets[self.preset].items()}
        cfg["image_size"] = int(cfg["image_size"]) or None
        cfg["crop"] = int(cfg["crop"]) or None
        return cfg

    def check_params(self) -> None:
        """Declared constraints, preset, and network size (for two scanners), before anything is allocated."""
        super().check_params()
        c = self.config()
        if c["image_size"] is not None and c["image_size"] % 2 ** c["n_down"]:
            raise DataError(f"stgan: image_size {c['image_size']} must be a multiple of {2 ** c['n_down']} "
                            f"(2**n_down)")
        self._build(2, probe_only=True)

    # ------------------------------------------------------------------ networks
    def _build(self, n_domains: int, *, probe_only: bool = False) -> dict[str, nn.Module]:
        c = self.config()
        kw = {k: c[k] for k in ("dim", "max_dim", "n_down", "style_dim", "latent_dim", "mapping_dim", "residual",
                                     "domain_output")}
        with torch.device("meta"):  # count parameters before allocating anything (e.g. dim=100000)
            probe = build_networks(n_domains=n_domains, **kw)
        n = sum(p.numel() for m in probe.values() for p in m.parameters())
        check_network_size("stgan", n, ", ".join(f"{k}={c[k]}" for k in
                                                 ("dim", "max_dim", "n_down", "style_dim", "mapping_dim")))
        if probe_only:
            return probe
        torch.manual_seed(int(self.seed))
        return build_networks(n_domains=n_domains, **kw)

    # ------------------------------------------------------------------ fitting
    def _fit(self, cohort: Cohort) -> None:
        train = cohort.train
        domains = sorted({r.scanner for c in train for r in c.sessions.values()})
        bl = sorted({c.ref("BL").scanner for c in train if c.has("BL")})
        if not bl:
            raise DataError("stgan: the training split has no BL images")
        if len(domains) < 2:
            raise DataError(f"stgan: needs >= 2 scanners (domains) in training; got {domains}")
        c = self.config()
        self.domains_ = domains
        self.bl_domain_ = max(bl, key=lambda s: sum(c.has("BL") and c.ref("BL").scanner == s for c in train))
        data = DomainSlices.from_cases(train, domains, multiple=2 ** c["n_down"], image_size=c["image_size"])
        weights = LossWeights(reg=float(c["lambda_reg"]), sty=float(self.lambda_sty), ds=float(self.lambda_ds),
                              cyc=float(c["lambda_cyc"]), ds_iterations=int(c["ds_iterations"]))
        device = select_device(self.device)
        model = StarGANv2Model(
            self._build(len(domains)), device=device, lr=float(c["lr"]),
            lr_mapping=float(c["lr_mapping"]), betas=(float(self.beta1), float(self.beta2)),
            weight_decay=float(self.weight_decay), weights=weights, latent_dim=int(c["latent_dim"]),
            seed=int(self.seed), target_domain=domains.index(self.bl_domain_), guidance=c["guidance"],
            amp_dtype=amp_dtype(self.precision, device, fp16=False))
        loop = self._loop_config(c)
        # a time cap changes where a fit stops, not what an iteration does (as in LoopConfig.fingerprint)
        config = {k: v for k, v in c.items() if k != "time_cap"}
        fingerprint = {"method": self.name, "config": config, "domains": domains, "n_slices": len(data),
                       "weights": [float(c["lambda_reg"]), float(self.lambda_sty), float(self.lambda_ds),
                                   float(c["lambda_cyc"]), float(self.beta1), float(self.beta2),
                                   float(self.weight_decay)],
                       "dataset": cohort.dataset_hash or cohort.name,
                       "precision": str(model.amp_dtype or "fp32")}
        self.training_history_ = fit(
            model, data.sampler(batch_size=int(c["batch_size"]), seed=int(self.seed), crop=c["crop"],
                               paired_reference=bool(c["paired_reference"])), loop,
            validator=self._validator([v for v in cohort.val if v.has("BL") and v.has("FU")]),
            work_dir=Path(self.work_dir) if self.work_dir is not None else None,
            fingerprint=fingerprint, method=self.name)
        self.nets_ = {k: model.nets[k].to("cpu").eval() for k in INFERENCE_NETS}
        self.mean_styles_ = self._mean_styles(data)

    def _loop_config(self, c: dict[str, Any]) -> LoopConfig:
        """The kit's loop: cap, lr schedule, EMA, selection and (``patience`` > 0) the convergence stop."""
        cap = int(c["iterations"])
        stopping = None
        if int(c["patience"]) > 0:
            # never before half the cap, as for the CycleGAN family: the residual generator starts on
            # the identity plateau, and a flat start must not pass for convergence
            stopping = Patience(metric=SELECTION.metric, patience=int(c["patience"]),
                                min_delta=float(c["min_delta"]), window=SMOOTHING_WINDOW, min_iterations=cap // 2)
        return LoopConfig(iterations=cap, val_every=int(c["val_every"]), lr=float(c["lr"]),
                          decay_start=float(c["decay_start"]), seed=int(self.seed), ema=float(c["ema_beta"]),
                          selection=SELECTION, stopping=stopping,
                          time_cap_s=float(c["time_cap"]) if c["time_cap"] else None,
                          identity_floor=IDENTITY_FLOOR_DB)

    def _validator(self, cases: list[Case]) -> SliceValidator | None:
        """FU/BL slices of up to ``val_slices`` evenly spaced kept slices per validation case."""
        if not cases:
            return None
        c = self.config()
        fus, bls, heads = [], [], []
        for case in cases:
            b, f = case.volume("BL"), case.volume("FU")
            idx = list(slice_indices_world(b, case.slice_range))
            k = int(c["val_slices"])
            if 0 < k < len(idx):
                idx = [idx[i] for i in np.linspace(0, len(idx) - 1, k).round().astype(int)]
            fus.append(to_axial_stack(f)[idx])
            bls.append(to_axial_stack(b)[idx])
            heads.append(to_axial_stack(f.with_data(head_mask(f.data).astype(np.float32)))[idx])
        pad = {"multiple": 2 ** c["n_down"], "square": c["image_size"]}
        fu, region = pad_stack(to_signed(np.concatenate(fus)), **pad)
        bl_, _ = pad_stack(to_signed(np.concatenate(bls)), **pad)
        head, _ = pad_stack(np.concatenate(heads), **pad)   # padding: -1, outside the head
        # outside the FU head the method passes the FU through (_finish): score that, not the
        # generator's output in the air (measured: texture there took slice SSIM from 0.86 to 0.52
        # while the head-masked volume SSIM rose from 0.877 to 0.903)
        return SliceValidator(fu, bl_, region=region, reference=True, passthrough=head <= 0.5)

    def _mean_styles(self, data: DomainSlices) -> np.ndarray:
        """(n_domains, style_dim) mean EMA style code of up to 256 training slices per domain."""
        enc = self.nets_["style_encoder"]
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
    def _translate(self, src: np.ndarray, domain: int, *, reference: np.ndarray | None = None,
                   style: np.ndarray | None = None) -> np.ndarray:
        """Render (n, h, w) [0, 1] slices with the styles of ``reference`` slices (or a fixed ``style``)."""
        nets, c = self.nets_, self.config()

        @torch.no_grad()
        def run(x: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
            y = torch.full((len(x),), domain, dtype=torch.long)
            s = nets["style_encoder"](ref, y) if ref is not None else \
                torch.from_numpy(np.repeat(style[None], len(x), 0))
            return nets["generator"](x, s, y)

        return harmonize_stack(src, run, multiple=2 ** c["n_down"], square=c["image_size"], batch=16,
                               reference=reference, clip=(0.0, None))

    def _domain_of(self, vol: Volume, default: str) -> int:
        scanner = vol.meta.get("scanner", default)
        if scanner not in self.domains_:
            raise DataError(f"stgan: scanner {scanner!r} was not a training domain; known: {self.domains_}")
        return self.domains_.index(scanner)

    def _finish(self, src: Volume, stack: np.ndarray) -> Volume:
        out = from_axial_stack(stack, src)
        keep = ~head_mask(src.data)
        out[keep] = src.data[keep]
        return src.with_data(out.astype(np.float32))

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        assert reference is not None  # guaranteed by BaseMethod.transform
        d = self._domain_of(reference, self.bl_domain_)
        stack = self._translate(to_axial_stack(fu), d, reference=to_axial_stack(reference))
        return self._finish(fu, stack)

    def _inverse_transform(self, bl: Volume) -> Volume:
        others = [s for s in self.domains_ if s != self.bl_domain_]
        if len(others) != 1:
            raise DataError(f"stgan: inverse needs exactly one FU scanner domain; got {others}")
        d = self.domains_.index(others[0])
        stack = self._translate(to_axial_stack(bl), d, style=self.mean_styles_[d])
        return self._finish(bl, stack)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        return {"torch": {k: self.nets_[k].state_dict() for k in INFERENCE_NETS},
                "arrays": {"mean_styles": self.mean_styles_},
                "json": {"domains": list(self.domains_), "bl_domain": self.bl_domain_,
                         "training_history": self.training_history_.to_json()}}

    def _set_state(self, state: dict[str, Any]) -> None:
        meta = state["json"]
        self.domains_ = list(meta["domains"])
        self.bl_domain_ = meta["bl_domain"]
        try:
            self.training_history_ = TrainingHistory.from_json(meta["training_history"])
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"stgan: saved training history is unreadable ({exc})") from None
        self.mean_styles_ = np.asarray(state["arrays"]["mean_styles"], dtype=np.float32)
        want = (len(self.domains_), self.config()["style_dim"])
        if self.mean_styles_.shape != want:
            raise ArtifactError(f"stgan: saved mean_styles has shape {self.mean_styles_.shape}; "
                                f"expected {want}")
        nets = self._build(len(self.domains_))
        for k in INFERENCE_NETS:
            if k not in state.get("torch", {}):
                raise ArtifactError(f"stgan: saved model lacks network {k!r}")
            load_state_dict_checked(nets[k], state["torch"][k], f"stgan {k}")
            nets[k].eval()
        self.nets_ = {k: nets[k] for k in INFERENCE_NETS}
