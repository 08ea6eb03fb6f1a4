"""Shared estimator plumbing of the 2-D GAN methods: parameters, presets, fit, transform, state.

Training runs on the shared kit (:func:`harmbench.training.loop.fit`): one period per epoch,
selection of the epoch with the highest mean validation slice SSIM or PSNR of FU->BL
(``select_by``; the other breaks ties), optional weight averaging, and either a fixed number of
epochs (``patience=0``) or a convergence-based stop: ``epochs`` is then the cap and the fit ends,
at the earliest after half the cap, once the validation curve of the selection metric, smoothed over :data:`SMOOTHING_WINDOW`
epochs, has not improved by ``min_delta`` for ``patience`` epochs (or after ``time_cap``
seconds). The fitted method keeps the kit's ``training_history_``.
"""

from __future__ import annotations

import abc
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

import torch

from harmbench.artifacts import load_state_dict_checked
from harmbench.data.cohort import Cohort
from harmbench.console import info
from harmbench.device import select_device
from harmbench.errors import ArtifactError, DataError
from harmbench.method import BaseMethod
from harmbench.params import Interval, Options
from harmbench.training.history import TrainingHistory
from harmbench.training.inference import harmonize_volume
from harmbench.training.loop import LoopConfig, Selection, fit
from harmbench.training.precision import PRECISIONS
from harmbench.training.stopping import Patience
from harmbench.training.validation import SliceValidator
from harmbench.typing import ParamDict
from harmbench.volume import Volume
from harmbench_gan.data import PairedSlices
from harmbench_gan.inference import cpu_slice_batch, should_compile
from harmbench_gan.losses import GAN_LOSSES
from harmbench_gan.models import check_config

_POSITIVE_INT = [Interval(int, 1, None), None]
_WEIGHT = [Interval(float, 0, None)]
_BETA = [Interval(float, 0, 1, closed="left")]

#: model selection of every slice GAN: best validation SSIM of FU->BL, PSNR breaks ties
SELECTION = Selection(metric="val_ssim", tiebreak="val_psnr", mode="max")
#: the same by PSNR (SSIM breaks ties), ``select_by="psnr"``
SELECTION_PSNR = Selection(metric="val_psnr", tiebreak="val_ssim", mode="max")
#: validation points averaged (trailing mean) before the patience rule compares them
SMOOTHING_WINDOW = 3
#: smallest validation gain over the identity map that counts as moving off it (else: near_identity)
IDENTITY_FLOOR = {"val_ssim": 1e-3, "val_psnr": 0.05}

_COERCE = {"int": int, "float": float, "bool": bool, "str": str}


def config_from_params(cls: type, p: ParamDict) -> Any:
    """The frozen config dataclass ``cls`` built from the resolved parameters of the same names.

    The dataclass fields are the one list of what the model needs; fields without a parameter
    (e.g. ``n_down``) keep their defaults. Values are coerced to the field's annotated type.
    """
    kw = {}
    for f in fields(cls):
        if f.name in p:
            kw[f.name] = _COERCE[str(f.type)](p[f.name]) if str(f.type) in _COERCE else p[f.name]
    return cls(**kw)


class GanMethod(BaseMethod):
    """Base of the slice-GAN estimators.

    Subclasses declare ``presets`` (values for the parameters whose default is ``None``),
    ``_config_class`` (the architecture/loss dataclass, filled from the parameters of the same
    names) and ``_model_class``; optionally ``variant`` — defaults of a named configuration,
    applied before the preset (see :class:`harmbench_gan.methods.CycleGANFamily`).
    """

    artifact_version: ClassVar[int] = 2
    presets: ClassVar[dict[str, ParamDict]] = {}
    variant: ClassVar[ParamDict] = {}
    #: whether ``precision="auto"`` trains in bfloat16 on a CPU with native bf16 units (a method
    #: whose networks train no faster in bf16 keeps fp32 there)
    cpu_bf16_auto: ClassVar[bool] = True
    _model_class: ClassVar[type]
    _config_class: ClassVar[type]
    #: parameters that may stay None after presets (None has a meaning of its own)
    _optional: ClassVar[tuple[str, ...]] = ("work_dir", "infer_batch", "infer_compile", "crop", "iters_per_epoch")
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "preset": [str],
        "epochs": _POSITIVE_INT, "iters_per_epoch": _POSITIVE_INT, "batch_size": _POSITIVE_INT,
        "ngf": _POSITIVE_INT, "ndf": _POSITIVE_INT, "crop": _POSITIVE_INT,
        "residual": [bool, None],
        "lr": [Interval(float, 0, None, closed="neither"), None],
        "beta1": _BETA, "beta2": _BETA,
        "decay_start": [Interval(float, 0, 1), None],
        "val_slices": [int, None],
        "ema": _BETA,
        "gan_loss": [Options(GAN_LOSSES)],
        "lambda_adv": _WEIGHT,
        "flip": [bool],
        "device": [str],
        "seed": [Interval(int, 0, None)],
        "work_dir": [str, Path, None],
        "infer_batch": _POSITIVE_INT,
        "infer_compile": [bool, None],
        "precision": [Options(PRECISIONS)],
        "select_by": [Options({"ssim", "psnr"}), None],
        "patience": [Interval(int, 0, None), None],
        "min_delta": [Interval(float, 0, None), None],
        "time_cap": [Interval(float, 0, None), None],
    }

    # ------------------------------------------------------------------ parameters
    def _store_params(self, values: dict[str, Any]) -> None:
        """Store every ``__init__`` argument under its own name (the estimator contract).

        Called as ``self._store_params(locals())`` from the family's one ``__init__``, whose
        explicit keyword-only signature remains the source of ``get_params``.
        """
        for name in self._param_names():
            setattr(self, name, values[name])

    def resolved_params(self) -> ParamDict:
        """Parameters with every ``None`` filled from ``variant``, then from ``presets[self.preset]``."""
        preset = self.get_params().get("preset")
        if preset not in self.presets:
            raise DataError(f"{self.name}: unknown preset {preset!r}; expected one of {sorted(self.presets)}")
        p = self.get_params()
        for source in (self.variant, self.presets[preset]):
            for k, v in source.items():
                if p.get(k) is None:
                    p[k] = v
        missing = [k for k, v in p.items() if v is None and k not in self._optional]
        if missing:
            raise DataError(f"{self.name}: parameters {missing} are None and preset {preset!r} does not set them")
        return p

    def check_params(self) -> None:
        """Declared constraints, then preset, network sizes and total parameter count (nothing allocated)."""
        super().check_params()
        p = self.resolved_params()
        check_config(self._model_config(p), self.name)
        crop, stride = p["crop"], self._config_stride(p)
        if crop is not None and crop % stride:
            raise DataError(f"{self.name}: crop {crop} must be a multiple of the network stride {stride}")

    def _model_config(self, p: ParamDict) -> Any:
        return config_from_params(self._config_class, p)

    @abc.abstractmethod
    def _config_stride(self, p: ParamDict) -> int:
        """The generator's size multiple for these parameters."""

    def _build(self, cfg: Any, device: str, seed: int) -> Any:
        check_config(cfg, self.name)  # sizes and total parameters, before any allocation
        precision = self.get_params().get("precision", "auto")
        if precision == "auto" and device.split(":")[0] == "cpu" and not self.cpu_bf16_auto:
            precision = "fp32"
        return self._model_class(cfg, device=device, seed=seed, channels_last=device.startswith("cuda"),
                                 precision=precision)

    # ------------------------------------------------------------------ fit
    def _fit(self, cohort: Cohort) -> None:
        p = self.resolved_params()
        device = select_device(p["device"])
        cfg = self._model_config(p)
        seed, crop, batch_size = int(p["seed"]), p["crop"], int(p["batch_size"])
        model = self._build(cfg, device, seed)
        min_size = crop or 0
        train = PairedSlices.from_cases(cohort.train, multiple=model.stride, min_size=min_size,
                                        head=getattr(model, "needs_head_slices", False))
        if hasattr(model, "init_from_data"):
            model.init_from_data(train)
        val_cases = [c for c in cohort.val if c.has("BL") and c.has("FU")]
        head = p.get("val_region") == "head"   # a family without the parameter scores whole slices
        val = (PairedSlices.from_cases(val_cases, multiple=model.stride, min_size=min_size, head=head)
               if val_cases else None)
        info(f"{self.name}: {len(train)} training slices {train.bl.shape[1:]}, "
             f"{0 if val is None else len(val)} validation slices, device {device}")
        ipe = p["iters_per_epoch"] or max(1, len(train) // batch_size)
        loop = self._loop_config(p, ipe)
        validator = None
        if val is not None and len(val):
            sub = val.subset(int(p["val_slices"]))
            validator = SliceValidator(sub.fu, sub.bl, mask=sub.head)
        fingerprint = {"method": self.name, "model": cfg.as_dict(), "dataset": cohort.dataset_hash or cohort.name,
                       "precision": str(model.amp_dtype or "fp32"), "n_train": len(train),
                       "batches": {"batch_size": batch_size, "crop": crop, "flip": bool(p["flip"])}}
        sampler = train.sampler(batch_size=batch_size, crop=crop, flip=bool(p["flip"]), seed=seed)
        work_dir = Path(p["work_dir"]) if p["work_dir"] is not None else None
        self.training_history_ = fit(model, sampler, loop, validator=validator, work_dir=work_dir,
                                     fingerprint=fingerprint, method=self.name)
        self.model_ = model
        self.config_ = cfg

    @staticmethod
    def _loop_config(p: ParamDict, ipe: int) -> LoopConfig:
        """The kit's loop settings: ``epochs`` x ``ipe`` iterations (the cap), selection, stop rule."""
        selection = SELECTION_PSNR if p["select_by"] == "psnr" else SELECTION
        cap = int(p["epochs"]) * ipe
        stopping = None
        if int(p["patience"]) > 0:
            # never before half the cap: an adversarial fit can sit on the identity plateau for a
            # while before it moves, and a flat start must not pass for convergence
            stopping = Patience(metric=selection.metric, patience=int(p["patience"]),
                                min_delta=float(p["min_delta"]), window=SMOOTHING_WINDOW, min_iterations=cap // 2)
        return LoopConfig(iterations=cap, val_every=ipe, lr=float(p["lr"]),
                          decay_start=float(p["decay_start"]), seed=int(p["seed"]), ema=float(p["ema"]),
                          selection=selection, stopping=stopping,
                          time_cap_s=float(p["time_cap"]) if p["time_cap"] else None,
                          identity_floor=IDENTITY_FLOOR[selection.metric])

    # ------------------------------------------------------------------ transform
    def _harmonize(self, vol: Volume, name: str) -> Volume:
        """Run generator ``name`` over every axial slice of ``vol`` (compiled when it pays)."""
        model = self.model_
        compiled = self.get_params().get("infer_compile")
        if compiled is None:
            compiled = should_compile(model.nets[name], vol.data.size, model.device)

        def run(x: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
            return model.run(name, x, compiled=bool(compiled))

        pixels = vol.data.size // vol.shape[vol.axial_axis]
        return harmonize_volume(vol, run, multiple=model.stride, batch=self._infer_batch(pixels))

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        return self._harmonize(fu, "G_fu2bl")

    def _infer_batch(self, pixels: int) -> int:
        b = self.get_params().get("infer_batch")
        if b is not None:
            return int(b)
        if self.model_.device != "cpu":
            return 16
        return cpu_slice_batch(int(self.config_.ngf), pixels)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        m = self.model_
        return {
            "torch": {k: {n: t.detach().cpu() for n, t in m.nets[k].state_dict().items()} for k in m.generators},
            "json": {"config": self.config_.as_dict(), "training_history": self.training_history_.to_json()},
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        js = state.get("json", {})
        try:
            cfg = self._config_class(**js["config"])
            history = TrainingHistory.from_json(js["training_history"])
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{self.name}: saved model configuration is unreadable ({exc})") from None
        p = self.resolved_params()
        model = self._build(cfg, select_device(p["device"]), int(p["seed"]))
        tensors = state.get("torch", {})
        for k in model.generators:
            if k not in tensors:
                raise ArtifactError(f"{self.name}: saved model lacks generator {k!r}; has {sorted(tensors)}")
            load_state_dict_checked(model.nets[k], tensors[k], f"{self.name} {k}")
        model.eval()
        self.model_, self.config_, self.training_history_ = model, cfg, history
