"""Evaluation configuration and run planning (parameter injection, capability checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.errors import DataError
from harmbench.harness.seeds import DEFAULT_SEEDS, check_seeds, seeded_params
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
    #: training seeds: every learned method (:mod:`harmbench.harness.seeds`) is fitted once per seed
    seeds: tuple[int, ...] = DEFAULT_SEEDS
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
    """One fit of a run: its final parameters, its training seed, or a skip reason.

    Attributes:
        spec: the run spec (its ``name`` is the leaderboard's run name, the same for every seed).
        params: the parameters the method is built with (preset, device and seed injected).
        skip: why the method declines the dataset, or None.
        seed: the training seed of a learned method; None for a method that does not learn.
    """

    spec: RunSpec
    params: dict[str, Any]
    skip: str | None = None
    seed: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def key(self) -> str:
        """Names this fit in records, progress and failures: ``pix2pix seed 1``, or the run name without a seed."""
        return self.name if self.seed is None else f"{self.name} seed {self.seed}"


@dataclass(frozen=True)
class BuiltRun:
    """A run spec's fit for one seed, with its parameters checked by building its method."""

    spec: RunSpec
    params: dict[str, Any]
    method: Any
    seed: int | None = None


def resolve_preset(preset: str, device: str) -> str:
    if preset != "auto":
        return preset
    return "quick" if device == "cpu" else "paper"


def build_runs(cfg: EvalConfig, device: str) -> list[BuiltRun]:
    """Each fit's parameters (preset/device/seed injected) and its validated method.

    A learned method gets one fit per seed of ``cfg.seeds`` (or just the seed its spec fixes);
    any other method one fit with seed None (:func:`~harmbench.harness.seeds.seeded_params`).
    Needs no data, so ``evaluate`` calls it before preparing anything: a bad parameter or seed
    list fails with one line before any preparation, fit or output.
    """
    seeds = check_seeds(cfg.seeds)
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
        for fit_params, seed in seeded_params(defaults, params, seeds):
            runs.append(BuiltRun(spec, fit_params, registry.build_method(spec.method, fit_params), seed))
    return runs  # bad parameters failed in build_method


def plan_runs(cfg: EvalConfig, cohort: Cohort, device: str,
              runs: list[BuiltRun] | None = None) -> list[PlannedRun]:
    """Ask each built fit's method whether it declines ``cohort`` (``runs``: :func:`build_runs`'s result,
    built here when not given)."""
    runs = build_runs(cfg, device) if runs is None else runs
    return [PlannedRun(r.spec, r.params, r.method.decline(cohort), r.seed) for r in runs]


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
