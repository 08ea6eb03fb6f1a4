"""Evaluation configuration and run planning (parameter injection, capability checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.errors import DataError
from harmbench.runspec import RunSpec

REFERENCE_RUNS = {"original-fu": "FU", "same-scanner-fu2": "FU2"}
TEST_SETS = {"A": "test-A", "B": "test-B"}


@dataclass
class EvalConfig:
    """Everything ``harmbench evaluate`` needs; all fields have CLI counterparts."""

    dataset: str = "synth-quick"
    methods: list[RunSpec] = field(default_factory=list)
    test_sets: tuple[str, ...] = ("A", "B")
    preset: str = "auto"
    out: Path | None = None
    work_dir: Path | None = None
    device: str = "auto"
    seed: int = 0
    metrics: list[str] | None = None
    executor: str = "local"
    #: worker processes (local: harmonize and score stages; dask: LocalCluster size); None =
    #: :func:`harmbench.parallel.default_workers` (the CLI's default). More than one needs the
    #: ``if __name__ == "__main__":`` guard in a calling script, as any multiprocessing code does.
    workers: int | None = 1
    scheduler: str | None = None
    cluster: str = "local"
    cluster_config: dict[str, Any] | None = None
    #: ask Dask workers for a ``GPU`` resource for every fit of a GPU-capable method
    gpu_resources: bool = False
    #: write into an ``out`` that holds another dataset's leaderboard (else refused with one line)
    force: bool = False


@dataclass
class PlannedRun:
    """A run with its final parameters, or a skip reason."""

    spec: RunSpec
    params: dict[str, Any]
    skip: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def method(self) -> str:
        return self.spec.method


def resolve_preset(preset: str, device: str) -> str:
    if preset != "auto":
        return preset
    return "quick" if device == "cpu" else "paper"


def build_runs(cfg: EvalConfig, device: str) -> list[tuple[RunSpec, dict[str, Any], Any]]:
    """Each run's parameters (preset/device/seed injected) and its validated method.

    Needs no data, so ``evaluate`` calls it before preparing anything: a bad parameter fails
    with one line before any preparation, fit or output.
    """
    specs = cfg.methods or [RunSpec(n) for n in registry.methods()]
    preset = resolve_preset(cfg.preset, device)
    runs = []
    for spec in specs:
        cls = registry.get_method(spec.method)
        defaults = cls.param_defaults()
        unknown = set(spec.params) - set(defaults)
        if unknown:
            raise DataError(f"{spec.method}: unknown parameter(s) {sorted(unknown)}; expected {sorted(defaults)}")
        params = dict(spec.params)
        presets = getattr(cls, "presets", {}) or {}
        if "preset" in defaults and "preset" not in params:
            params["preset"] = preset if preset in presets else defaults["preset"]
        if "device" in defaults and "device" not in params:
            params["device"] = device
        for seed_name in ("seed", "random_state"):
            if seed_name in defaults and seed_name not in params:
                params[seed_name] = cfg.seed
        runs.append((spec, params, registry.build_method(spec.method, params)))  # bad parameters fail here
    return runs


def plan_runs(cfg: EvalConfig, cohort: Cohort, device: str,
              runs: list[tuple[RunSpec, dict[str, Any], Any]] | None = None) -> list[PlannedRun]:
    """Ask each built run's method whether it declines ``cohort`` (``runs``: :func:`build_runs`'s result,
    built here when not given)."""
    runs = build_runs(cfg, device) if runs is None else runs
    return [PlannedRun(spec, params, method.decline(cohort)) for spec, params, method in runs]


def test_cases(cohort: Cohort, test_sets: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(test-set letter, case) pairs for the requested test sets."""
    out = []
    for letter in test_sets:
        if letter not in TEST_SETS:
            raise DataError(f"unknown test set {letter!r}; expected A or B")
        for case in cohort.split(TEST_SETS[letter]):
            out.append((letter, case))
    if not out:
        raise DataError(f"dataset has no cases in test set(s) {', '.join(test_sets)}")
    return out
