"""Shared estimator plumbing of the 2-D GAN methods (presets, fit, transform, state)."""

from __future__ import annotations

import abc

import tempfile
from pathlib import Path
from typing import Any, ClassVar

import torch

from harmbench.artifacts import load_state_dict_checked
from harmbench.cohort import Cohort
from harmbench.console import info
from harmbench.device import select_device
from harmbench.errors import ArtifactError, DataError
from harmbench.method import BaseMethod
from harmbench.typing import ParamDict
from harmbench.volume import Volume
from harmbench_gan import engine
from harmbench_gan.data import PairedSlices
from harmbench_gan.inference import cpu_slice_batch, harmonize_volume, should_compile
from harmbench_gan.models import check_config


class GanMethod(BaseMethod):
    """Base of the slice-GAN estimators.

    Subclasses declare ``presets`` (values for the parameters whose default is ``None``),
    ``_model_config(p)`` (the architecture/loss dataclass from resolved parameters) and
    ``_model_class``.
    """

    artifact_version: ClassVar[int] = 1
    presets: ClassVar[dict[str, ParamDict]] = {}
    _model_class: ClassVar[type]

    # ------------------------------------------------------------------ parameters
    def _store_params(self, values: dict[str, Any]) -> None:
        """Store every ``__init__`` argument under its own name (the estimator contract).

        Called as ``self._store_params(locals())`` from each subclass ``__init__``, whose explicit
        keyword-only signature (with per-method defaults) remains the source of ``get_params``.
        """
        for name in self._param_names():
            setattr(self, name, values[name])

    def resolved_params(self) -> ParamDict:
        """Parameters with every ``None`` filled from ``presets[self.preset]``."""
        preset = self.get_params().get("preset")
        if preset not in self.presets:
            raise DataError(f"{self.name}: unknown preset {preset!r}; expected one of {sorted(self.presets)}")
        p = self.get_params()
        for k, v in self.presets[preset].items():
            if p.get(k) is None:
                p[k] = v
        optional = ("work_dir", "infer_batch", "infer_compile")
        missing = [k for k, v in p.items() if v is None and k not in self.presets[preset] and k not in optional]
        if missing:
            raise DataError(f"{self.name}: parameters {missing} are None and preset {preset!r} does not set them")
        return p

    def check_params(self) -> None:
        """Preset, network sizes and total parameter count, before anything is allocated."""
        check_config(self._model_config(self.resolved_params()), self.name)

    @abc.abstractmethod
    def _model_config(self, p: ParamDict) -> Any:
        """The network/loss configuration of this method from resolved parameters."""

    def _train_config(self, p: ParamDict) -> engine.TrainConfig:
        return engine.TrainConfig(
            epochs=int(p["epochs"]), iters_per_epoch=p["iters_per_epoch"], batch_size=int(p["batch_size"]),
            crop=p["crop"], flip=bool(p["flip"]), decay_start=float(p["decay_start"]), lr=float(p["lr"]),
            val_slices=int(p["val_slices"]), seed=int(p["seed"]), ema=float(p["ema"]))

    def _build(self, cfg: Any, device: str, seed: int) -> Any:
        check_config(cfg, self.name)  # sizes and total parameters, before any allocation
        precision = self.get_params().get("precision", "auto")
        return self._model_class(cfg, device=device, seed=seed, channels_last=device.startswith("cuda"),
                                 precision=precision)

    # ------------------------------------------------------------------ fit
    def _fit(self, cohort: Cohort) -> None:
        p = self.resolved_params()
        device = select_device(p["device"])
        cfg = self._model_config(p)
        tcfg = self._train_config(p)
        model = self._build(cfg, device, tcfg.seed)
        if tcfg.crop is not None and tcfg.crop % model.stride:
            raise DataError(f"{self.name}: crop {tcfg.crop} must be a multiple of the network stride {model.stride}")
        min_size = tcfg.crop or 0
        train = PairedSlices.from_cases(cohort.train, multiple=model.stride, min_size=min_size)
        val_cases = [c for c in cohort.val if c.has("BL") and c.has("FU")]
        val = PairedSlices.from_cases(val_cases, multiple=model.stride, min_size=min_size) if val_cases else None
        fingerprint = {"method": self.name, "model": cfg.as_dict(), "dataset": cohort.dataset_hash or cohort.name,
                       "precision": str(model.amp_dtype or "fp32")}
        info(f"{self.name}: {len(train)} training slices {train.bl.shape[1:]}, "
             f"{0 if val is None else len(val)} validation slices, device {device}")
        if p["work_dir"] is None:
            with tempfile.TemporaryDirectory(prefix=f"harmbench-{self.name}-") as tmp:
                res = engine.train(model, train, val, tcfg, Path(tmp), fingerprint=fingerprint, label=self.name)
        else:
            res = engine.train(model, train, val, tcfg, Path(p["work_dir"]), fingerprint=fingerprint,
                               label=self.name)
        self.model_ = model
        self.config_ = cfg
        self.history_ = res.history
        self.best_epoch_ = res.best_epoch

    # ------------------------------------------------------------------ transform
    def _harmonize(self, vol: Volume, name: str) -> Volume:
        """Run generator ``name`` over every axial slice of ``vol`` (compiled when it pays)."""
        model = self.model_
        compiled = self.get_params().get("infer_compile")
        if compiled is None:
            compiled = should_compile(model.nets[name], vol.data.size, model.device)

        def run(x: torch.Tensor) -> torch.Tensor:
            return model.translate(name, x, compiled=bool(compiled))

        pixels = vol.data.size // vol.shape[vol.axial_axis]
        return harmonize_volume(vol, run, stride=model.stride, batch=self._infer_batch(pixels))

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
            "json": {"config": self.config_.as_dict(), "history": self.history_, "best_epoch": self.best_epoch_},
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        js = state.get("json", {})
        cfg_cls = type(self._model_config(self.resolved_params()))
        try:
            cfg = cfg_cls(**js["config"])
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
        self.model_, self.config_ = model, cfg
        self.history_, self.best_epoch_ = js.get("history", []), int(js.get("best_epoch", 0))
