"""``harmbench evaluate``: plan, fit, harmonize, score, write results and leaderboards."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harmbench import __version__, registry
from harmbench.data.cohort import Cohort
from harmbench.console import info
from harmbench.device import select_device
from harmbench.harness.executor import Executor, LocalExecutor
from harmbench.harness.fingerprint import dataset_hash
from harmbench.harness.layout import WorkLayout, fingerprint_store
from harmbench.harness.outdir import claim_out, lock_out
from harmbench.harness.plan import REFERENCE_RUNS, EvalConfig, PlannedRun, build_runs, plan_runs, test_cases
from harmbench.harness.provenance import portable_runs
from harmbench.harness.stages import (Scores, StageContext, StageResult, calibrate_stage, fit_stage,
                                      harmonize_stage, score_stage)
from harmbench.harness.units import metric_instance
from harmbench.io import require_writable_dir, write_json_atomic, write_text_atomic
from harmbench.parallel import default_workers

RESULT_COLUMNS = ["dataset", "test_set", "method", "run", "seed", "case", "metric", "region", "value"]
#: version of the results.csv layout, recorded in runs.json as ``results_schema``: 1 (no such field)
#: had no ``seed`` column; 2 adds it (the training seed of a learned run, empty for other runs)
RESULTS_SCHEMA = 2


@dataclass
class EvalResult:
    out: Path
    results: pd.DataFrame
    runs: dict[str, Any]
    failures: list[dict] = field(default_factory=list)


def default_out(dataset: str, name: str = "", content_hash: str = "") -> Path:
    """``leaderboards/<name>`` for a registered dataset, ``leaderboards/<name>-<hash[:8]>`` for a manifest.

    A manifest's folder names the dataset (``dataset.json`` name, else the manifest's folder) and
    its content hash tells apart different manifests or edits that share a name, so two
    datasets never overwrite each other's leaderboards.
    """
    from harmbench.data.resolve import is_manifest_path

    if not is_manifest_path(dataset):
        return Path("leaderboards") / dataset
    name = name or Path(dataset).resolve().parent.name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
    return Path("leaderboards") / (f"{stem}-{content_hash[:8]}" if content_hash else stem)


def make_executor(cfg: EvalConfig) -> Executor:
    """The executor ``cfg`` names: local worker processes or a Dask cluster."""
    if cfg.executor == "local":
        return LocalExecutor(workers=cfg.workers or default_workers())
    from harmbench.harness.dask_executor import DaskExecutor

    return DaskExecutor(scheduler=cfg.scheduler, workers=cfg.workers or default_workers(), cluster=cfg.cluster,
                        cluster_config=cfg.cluster_config)


def evaluate(cfg: EvalConfig) -> EvalResult:
    from harmbench.data.resolve import prepared_manifest

    t_start = time.perf_counter()
    device = select_device(cfg.device)
    runs = build_runs(cfg, device)  # parameters checked once, before any data is prepared
    manifest = prepared_manifest(cfg.dataset, seed=None)
    timings = {"data": time.perf_counter() - t_start}
    cohort = Cohort.from_manifest(manifest)
    # every cache key derives from the content on disk now, never from dataset.json's recorded hash
    t0 = time.perf_counter()
    dhash = dataset_hash(manifest, fingerprint_store(cfg.work_dir))[:16]
    timings["hash"] = time.perf_counter() - t0
    out = cfg.out or default_out(cfg.dataset, cohort.name, dhash)
    layout = WorkLayout.resolve(cfg.work_dir, dhash)
    require_writable_dir(out)
    require_writable_dir(layout.root)
    with lock_out(out):
        claim_out(out, {"name": cohort.name, "hash": dhash, "prepared_hash": cohort.dataset_hash}, force=cfg.force)
        return _evaluate_into(cfg, cohort, manifest, layout, out, device, timings, t_start, runs)


@dataclass(frozen=True)
class _Stages:
    """The records of every stage of one evaluation."""

    fit: StageResult[dict[str, dict]]
    harmonize: StageResult[dict[tuple[str, str], dict]]
    calibrate: StageResult[dict[str, dict[str, Any]]]
    score: StageResult[Scores]

    @property
    def failures(self) -> list[dict]:
        return [f for r in (self.fit, self.harmonize, self.calibrate, self.score) for f in r.failures]

    @property
    def timings(self) -> dict[str, float]:
        return {"fit": self.fit.seconds, "harmonize": self.harmonize.seconds,
                "calibrate": self.calibrate.seconds, "score": self.score.seconds}


def _evaluate_into(cfg: EvalConfig, cohort: Cohort, manifest: Path, layout: WorkLayout, out: Path,
                   device: str, timings: dict[str, float], t_start: float,
                   runs: list | None = None) -> EvalResult:
    """Fit, harmonize, calibrate and score, then write ``out`` (which the caller has locked)."""
    planned = plan_runs(cfg, cohort, device, runs)
    cases = test_cases(cohort, cfg.test_sets)
    metrics = cfg.metrics or list(registry.metrics())
    for m in metrics:
        registry.get_metric(m)
    active = tuple(p for p in planned if not p.skip)
    executor = make_executor(cfg)
    ctx = StageContext(executor, str(manifest), cohort, layout, active, tuple(cases), tuple(metrics), cfg)
    info(f"evaluating {len({p.name for p in active})} run(s) on {cohort.name} ({_seed_note(active)}; "
         f"{len(cases)} test cases, device {device}) -> {out}")
    try:
        fit = fit_stage(ctx)
        harm = harmonize_stage(ctx, fit.records)
        calib = calibrate_stage(ctx)
        score = score_stage(ctx, harm.records, calib.records)
    finally:
        executor.close()
    stages = _Stages(fit, harm, calib, score)
    df = pd.DataFrame(score.records.rows, columns=RESULT_COLUMNS)
    df["seed"] = df["seed"].astype("Int64")  # integers, empty for runs that do not learn
    df = df.sort_values(["test_set", "run", "seed", "case", "metric", "region"],
                        kind="stable").reset_index(drop=True)
    runs_meta = _provenance(ctx, planned, device, stages)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "results.csv", df.to_csv(index=False, float_format="%.6g"))
    runs_meta["timings"] = {**timings, **stages.timings, "total": time.perf_counter() - t_start}
    write_json_atomic(out / "runs.json", portable_runs(runs_meta))
    from harmbench.leaderboard.render import render_leaderboards

    render_leaderboards(out, harmonized=first_seed_images(active, harm.records), manifest=str(manifest), reuse=True)
    return EvalResult(out, df, runs_meta, stages.failures)


def _seed_note(runs: tuple[PlannedRun, ...]) -> str:
    """``5 fit(s), seeds 0, 1, 2 for learned methods`` (or ``3 fit(s)`` when nothing learns)."""
    seeds = sorted({p.seed for p in runs if p.seed is not None})
    note = f"{len(runs)} fit(s)"
    return note + (f", seeds {', '.join(map(str, seeds))} for learned methods" if seeds else "")


def first_seed_images(runs: tuple[PlannedRun, ...], harmonized: dict[tuple[str, str], dict]
                      ) -> dict[tuple[str, str], dict[str, str]]:
    """``{(run name, case): files}`` of each run's first seed: the images the figures show.

    ``harmonized`` maps (fit key, case) to the harmonize records of every fit.
    """
    first: dict[str, str] = {}
    for p in runs:
        first.setdefault(p.name, p.key)
    name_of = {key: name for name, key in first.items()}
    return {(name_of[key], case): rec["files"] for (key, case), rec in harmonized.items() if key in name_of}


def _provenance(ctx: StageContext, planned: list[PlannedRun], device: str, stages: _Stages) -> dict[str, Any]:
    """The ``runs.json`` record (before :func:`portable_runs`): versions, dataset, runs, failures."""
    from harmbench.device import platform_info
    from harmbench.stats import versions

    cfg, cohort, models = ctx.config, ctx.cohort, stages.fit.records
    calibrated, scores = stages.calibrate.records, stages.score.records
    return {
        "results_schema": RESULTS_SCHEMA,
        "harmbench_version": __version__,
        "versions": versions(),
        "platform": platform_info(),
        "dataset": {"name": cohort.name, "manifest": ctx.manifest, "hash": ctx.layout.dataset,
                    "prepared_hash": cohort.dataset_hash or None,
                    "splits": {s: len(cohort.split(s)) for s in ("train", "val", "test-A", "test-B")}},
        "config": {"dataset": cfg.dataset, "test_sets": list(cfg.test_sets), "preset": cfg.preset,
                   "device": device, "seed": cfg.seeds[0], "seeds": list(cfg.seeds),
                   "executor": cfg.executor},
        "runs": [{"run": p.name, "method": p.method, "seed": p.seed, "params": p.params, "skipped": p.skip,
                  "diagnostic": bool(registry.get_method(p.method).capabilities.diagnostic),
                  "fit_seconds": (models.get(p.key) or {}).get("seconds"),
                  "model_dir": (models.get(p.key) or {}).get("model_dir"),
                  "training": (models.get(p.key) or {}).get("training")} for p in planned],
        "reference_runs": REFERENCE_RUNS,
        "skipped": {p.name: p.skip for p in planned if p.skip},
        "failures": stages.failures,
        "metrics": {name: {"kind": m.kind, "emits": m.directions(), "policy": m.policy(),
                           "description": m.description, "calibrated": name in calibrated}
                    for name in ctx.metrics for m in (metric_instance(name, calibrated.get(name)),)},
        "metric_seconds_per_case": scores.metric_seconds,
        "unavailable_metrics": scores.unavailable,
        # the first seed's images of each run (the ones the figures show), as "run|case"
        "harmonized": {f"{run}|{case}": files for (run, case), files
                       in first_seed_images(ctx.runs, stages.harmonize.records).items()},
        "work_dir": str(ctx.layout.root),
    }
