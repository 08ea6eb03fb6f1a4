"""Presets and parameter constraints of the ``stgan`` method (:mod:`harmbench_stgan.stgan`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harmbench.params import Interval, Options
from harmbench.training.precision import PRECISIONS
from harmbench_stgan.model import GUIDANCE

_POSITIVE = [Interval(int, 1, None), None]
_WEIGHT = [Interval(float, 0, None)]


# CPU budget (a few minutes of training on synth-quick): narrow nets, native 2 mm slices. The
# diversity term is off (``ds_iterations`` 0: weight 1 at iteration 0, 0 after): it rewards outputs that differ between two styles,
# which serves StarGAN v2's multi-modal generation, not translation to one reference, and in a
# short run it dominated (measured: validation PSNR 2.5-3 dB below the identity at iterations
# 150-250 with it on and lr 5e-4). One output layer per target scanner (``domain_output``), R1 and
# cycle weights 10, lr 4e-4: the settings that leave the identity on synth-quick for every seed
# (docs/methods-gan.md, "STGAN in the quick budget").
QUICK: dict[str, Any] = {
    "dim": 16, "max_dim": 64, "n_down": 2, "style_dim": 16, "latent_dim": 8, "mapping_dim": 64,
    "residual": True, "domain_output": True, "image_size": 0, "iterations": 250, "guidance": "alternate",
    "batch_size": 8, "crop": 48, "lr": 4e-4, "lr_mapping": 1e-5, "ds_iterations": 0,
    "ema_beta": 0.95, "val_every": 25, "val_slices": 16, "paired_reference": False,
    "lambda_cyc": 10.0, "lambda_reg": 10.0, "decay_start": 1.0, "patience": 0, "min_delta": 0.0,
    "time_cap": 600.0}

PRESETS: dict[str, dict[str, Any]] = {
    # Published settings (REFERENCE.md §5; StarGAN v2 widths at 256²; 100k iterations).
    "paper": {"dim": 64, "max_dim": 512, "n_down": 4, "style_dim": 64, "latent_dim": 16,
              "mapping_dim": 512,
              "residual": False, "domain_output": False, "image_size": 256, "iterations": 100_000, "guidance": "both",
              "batch_size": 8, "crop": 0, "lr": 1e-4, "lr_mapping": 1e-6, "ds_iterations": 100_000,
              "ema_beta": 0.999, "val_every": 5_000, "val_slices": 64, "paired_reference": False,
              "lambda_cyc": 1.0, "lambda_reg": 1.0, "decay_start": 1.0, "patience": 0, "min_delta": 0.0,
              "time_cap": 0.0},
    # CPU budget (a few minutes of training on synth-quick): narrow nets, native 2 mm slices.
    "quick": QUICK,
    # Conformance / smoke tests: trains 4 iterations in seconds.
    "tiny": {"dim": 8, "max_dim": 16, "n_down": 2, "style_dim": 8, "latent_dim": 4, "mapping_dim": 16,
             "residual": True, "domain_output": True, "image_size": 0, "iterations": 4, "guidance": "both", "batch_size": 4,
             "crop": 0, "lr": 1e-3, "lr_mapping": 1e-5, "ds_iterations": 4, "ema_beta": 0.5,
             "val_every": 2, "val_slices": 4, "paired_reference": False,
             "lambda_cyc": 1.0, "lambda_reg": 1.0, "decay_start": 1.0, "patience": 0, "min_delta": 0.0,
             "time_cap": 0.0},
}

PARAMETER_CONSTRAINTS: dict[str, list] = {
    "preset": [str],
    "dim": _POSITIVE, "max_dim": _POSITIVE, "style_dim": _POSITIVE, "latent_dim": _POSITIVE,
    "mapping_dim": _POSITIVE, "iterations": _POSITIVE, "batch_size": _POSITIVE, "val_every": _POSITIVE,
    "n_down": [Interval(int, 1, 8), None],
    "residual": [bool, None],
    "domain_output": [bool, None],
    "image_size": [Interval(int, 0, 4096), None],
    "crop": [Interval(int, 0, None), None],
    "guidance": [Options(set(GUIDANCE)), None],
    "paired_reference": [bool, None],
    "lr": [Interval(float, 0, None, closed="neither"), None],
    "lr_mapping": [Interval(float, 0, None), None],
    "beta1": [Interval(float, 0, 1, closed="left")], "beta2": [Interval(float, 0, 1, closed="left")],
    "weight_decay": [Interval(float, 0, None)],
    "lambda_reg": [Interval(float, 0, None), None], "lambda_sty": _WEIGHT, "lambda_ds": _WEIGHT,
    "lambda_cyc": [Interval(float, 0, None), None],
    "decay_start": [Interval(float, 0, 1), None],
    "patience": [Interval(int, 0, None), None],
    "min_delta": [Interval(float, 0, None), None],
    "time_cap": [Interval(float, 0, None), None],
    "ds_iterations": [Interval(int, 0, None), None],
    "ema_beta": [Interval(float, 0, 1, closed="left"), None],
    "val_slices": [Interval(int, 0, None), None],
    "seed": [Interval(int, 0, None)],
    "device": [str],
    "precision": [Options(PRECISIONS)],
    "work_dir": [str, Path, None],
}
