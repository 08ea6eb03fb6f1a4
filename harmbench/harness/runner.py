"""``harmbench evaluate``: plan, fit, harmonize, score, write results and leaderboards."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harmbench import __version__, registry
from harmbench.cohort import Cohort
from harmbench.console import info, progress
from harmbench.device import select_device
from harmbench.harness.cache import cache_key
from harmbench.harness.executor import LocalExecutor, Outcome, Task
from harmbench.harness.fingerprint import dataset_hash
from harmbench.harness.provenance import portable_runs
from harmbench.harness.plan import REFERENCE_RUNS, EvalConfig, PlannedRun, plan_runs, test_cases
from harmbench.harness.calibration import calibrate_metrics
from harmbench.harness.units import (cached_harmonization, fit_unit, harmonize_unit, metric_instance,
                                     score_unit)
from harmbench.harness.outdir import claim_out, lock_out
from harmbench.io import require_writable_dir, write_json_atomic, write_text_atomic
from harmbench.parallel import default_workers

RESULT_COLUMNS = ["dataset", "test_set", "method", "run", "case", "metric", "region", "value"]


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
    from harmbench.resolve import is_manifest_path

    if not is_manifest_path(dataset):
        return Path("leaderboards") / dataset
    name = name or Path(dataset).resolve().parent.name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
    return Path("leaderboards") / (f"{stem}-{content_hash[:8]}" if content_hash else stem)


def work_root() -> Path:
    """Root of the default work caches: ``~/.cache/harmbench/work`` (``HARMBENCH_DATA`` does not move it)."""
    return Path.home() / ".cache" / "harmbench" / "work"


def default_work(dataset_hash: str) -> Path:
    """Default work cache of a dataset: ``~/.cache/harmbench/work/<dataset content hash>``."""
    return work_root() / dataset_hash


def make_executor(cfg: EvalConfig):
    if cfg.executor == "local":
        return LocalExecutor(workers=cfg.workers or default_workers())
    from harmbench.harness.dask_executor import DaskExecutor

    return DaskExecutor(scheduler=cfg.scheduler, workers=cfg.workers or default_workers(), cluster=cfg.cluster,
                        cluster_config=cfg.cluster_config)


def evaluate(cfg: EvalConfig) -> EvalResult:
    from harmbench.resolve import prepared_manifest

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    device = select_device(cfg.device)
    manifest = prepared_manifest(cfg.dataset, seed=None)
    timings["data"] = time.perf_counter() - t_start
    cohort = Cohort.from_manifest(manifest)
    # every cache key derives from the content on disk now, never from dataset.json's recorded hash
    t0 = time.perf_counter()
    dhash = dataset_hash(manifest, cfg.work_dir or work_root())[:16]
    timings["hash"] = time.perf_counter() - t0
    out = cfg.out or default_out(cfg.dataset, cohort.name, dhash)
    work = cfg.work_dir or default_work(dhash)
    require_writable_dir(out)
    require_writable_dir(work)
    with lock_out(out):
        claim_out(out, {"name": cohort.name, "hash": dhash, "prepared_hash": cohort.dataset_hash}, force=cfg.force)
        return _evaluate_into(cfg, cohort, manifest, dhash, out, work, device, timings, t_start)


def _evaluate_into(cfg: EvalConfig, cohort: Cohort, manifest: Path, dhash: str, out: Path, work: Path,
                   device: str, timings: dict[str, float], t_start: float) -> EvalResult:
    """Fit, harmonize, calibrate and score, then write ``out`` (which the caller has locked)."""
    planned = plan_runs(cfg, cohort, device)
    cases = test_cases(cohort, cfg.test_sets)
    metrics = cfg.metrics or list(registry.metrics())
    for m in metrics:
        registry.get_metric(m)
    failures: list[dict] = []
    skipped = {p.name: p.skip for p in planned if p.skip}
    active = [p for p in planned if not p.skip]
    executor = make_executor(cfg)
    info(f"evaluating {len(active)} run(s) on {cohort.name} ({len(cases)} test cases, device {device}) -> {out}")
    try:
        models = _fit_stage(executor, active, str(manifest), dhash, work, failures, timings, cfg.gpu_resources)
        harm = _harmonize_stage(executor, active, models, str(manifest), cases, dhash, work, failures, timings)
        t0 = time.perf_counter()
        calibrated = calibrate_metrics(metrics, cohort, dhash, work)
        timings["calibrate"] = time.perf_counter() - t0
        rows, metric_seconds, unavailable = _score_stage(executor, active, harm, str(manifest), cases, metrics,
                                                         dhash, work, failures, timings, cohort.name, calibrated)
    finally:
        executor.close()
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    df = df.sort_values(["test_set", "run", "case", "metric", "region"], kind="stable").reset_index(drop=True)
    runs_meta = _provenance(cfg, cohort, manifest, dhash, planned, skipped, failures, timings, metric_seconds,
                            unavailable, models, harm, device, work, calibrated)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "results.csv", df.to_csv(index=False, float_format="%.6g"))
    timings["total"] = time.perf_counter() - t_start
    runs_meta["timings"] = timings
    write_json_atomic(out / "runs.json", portable_runs(runs_meta))
    from harmbench.leaderboard.render import render_leaderboards

    render_leaderboards(out, harmonized=harm, manifest=str(manifest))
    return EvalResult(out, df, runs_meta, failures)


def _key_params(p: PlannedRun) -> dict[str, Any]:
    """Parameters that differ from the method's defaults: ``m[lam=10]`` and ``m`` (default 10) share a cache."""
    defaults = registry.get_method(p.method).param_defaults()
    return {k: v for k, v in sorted(p.params.items()) if k not in defaults or defaults[k] != v}


def _run_tasks(executor, tasks: list[Task], label: str, failures: list[dict], stage: str) -> list[Outcome]:
    if not tasks:
        return []
    with progress() as prog:
        bar = prog.add_task(label, total=len(tasks))

        def done(o: Outcome) -> None:
            prog.advance(bar)
            if o.error:
                failures.append({"stage": stage, "tag": list(o.tag), "error": o.error})

        return executor.run(tasks, done)


def _fit_stage(executor, active: list[PlannedRun], manifest: str, dhash: str, work: Path,
               failures: list[dict], timings: dict, gpu_resources: bool = False) -> dict[str, dict]:
    t0 = time.perf_counter()
    models: dict[str, dict] = {}
    tasks = []
    for p in active:
        cls = registry.get_method(p.method)
        if not cls.capabilities.needs_training:
            models[p.name] = {"model_dir": None, "seconds": 0.0, "cached": True}
            continue
        key = cache_key(unit="fit", method=p.method, params=_key_params(p), dataset=dhash)
        tasks.append(Task((p.name,), fit_unit, (p.method, p.params, manifest,
                                                  str(work / "models" / f"{p.method}-{key}"),
                                                  str(work / "train" / f"{p.method}-{key}")),
                          resources={"GPU": 1} if gpu_resources and cls.capabilities.supports_gpu else None,
                          in_process=True))  # a fit uses every core itself; fits run one at a time
    for o in _run_tasks(executor, tasks, "fitting methods", failures, "fit"):
        if not o.error:
            models[o.tag[0]] = o.result
    timings["fit"] = time.perf_counter() - t0
    return models


def _harmonize_stage(executor, active, models, manifest, cases, dhash, work, failures, timings) -> dict:
    t0 = time.perf_counter()
    tasks = []
    for p in active:
        if p.name not in models:
            continue
        key = cache_key(unit="harmonize", method=p.method, params=_key_params(p), dataset=dhash)
        for letter, case in cases:
            out_dir = work / "harmonized" / f"{p.method}-{key}" / case.case_id
            tasks.append(Task((p.name, case.case_id), harmonize_unit,
                              (p.method, p.params, models[p.name]["model_dir"], manifest, case.case_id,
                               str(out_dir)), in_process=cached_harmonization(out_dir) is not None))
    harm: dict[tuple[str, str], dict] = {}
    for o in _run_tasks(executor, tasks, "harmonizing test cases", failures, "harmonize"):
        if not o.error:
            harm[tuple(o.tag)] = o.result
    timings["harmonize"] = time.perf_counter() - t0
    return harm


def _score_stage(executor, active, harm, manifest, cases, metrics, dhash, work, failures, timings, dataset,
                 calibrated=None):
    t0 = time.perf_counter()
    tasks, meta = [], {}
    # one cache record per (metric policy, scored image): changing one metric re-scores only it
    calibrated = calibrated or {}
    mkeys = {m: cache_key(unit="score", metric=metric_instance(m, calibrated.get(m)).policy(), dataset=dhash)
             for m in metrics}

    def records(run_dir: str, case_id: str) -> dict[str, str]:
        return {m: str(work / "scores" / k / run_dir / f"{case_id}.json") for m, k in mkeys.items()}

    for ref_run, session in REFERENCE_RUNS.items():
        for letter, case in cases:
            if not case.has(session):
                continue
            recs = records(ref_run, case.case_id)
            tasks.append(Task((ref_run, case.case_id), score_unit,
                              (case.case_id, manifest, None, None, recs, session, calibrated),
                              in_process=_cached(recs)))
            meta[(ref_run, case.case_id)] = (letter, "reference")
    for p in active:
        key = cache_key(unit="harmonize", method=p.method, params=_key_params(p), dataset=dhash)
        for letter, case in cases:
            h = harm.get((p.name, case.case_id))
            if h is None:
                continue
            files = h["files"]
            recs = records(f"{p.method}-{key}", case.case_id)
            tasks.append(Task((p.name, case.case_id), score_unit,
                              (case.case_id, manifest, files["harmonized"], files.get("recon"), recs, "FU",
                               calibrated, h.get("source")),
                              in_process=h.get("cached", True) and _cached(recs)))
            meta[(p.name, case.case_id)] = (letter, p.method)
    rows: list[dict] = []
    seconds: dict[str, list[float]] = {}
    unavailable: dict[str, str] = {}
    for o in _run_tasks(executor, tasks, "scoring", failures, "score"):
        if o.error:
            continue
        letter, method = meta[tuple(o.tag)]
        for r in o.result["rows"]:
            rows.append({"dataset": dataset, "test_set": letter, "method": method, "run": o.tag[0],
                         "case": o.tag[1], **r})
        for k, v in o.result.get("seconds", {}).items():
            seconds.setdefault(k, []).append(v)
        unavailable.update(o.result.get("unavailable", {}))
    timings["score"] = time.perf_counter() - t0
    return rows, {k: sum(v) / len(v) for k, v in seconds.items()}, unavailable


def _cached(records: dict[str, str]) -> bool:
    return all(Path(r).exists() for r in records.values())


def _provenance(cfg, cohort, manifest, dhash, planned, skipped, failures, timings, metric_seconds,
                unavailable, models, harm, device, work, calibrated=None) -> dict[str, Any]:
    from harmbench.device import platform_info
    from harmbench.stats import versions

    return {
        "harmbench_version": __version__,
        "versions": versions(),
        "platform": platform_info(),
        "dataset": {"name": cohort.name, "manifest": str(manifest), "hash": dhash,
                    "prepared_hash": cohort.dataset_hash or None,
                    "splits": {s: len(cohort.split(s)) for s in ("train", "val", "test-A", "test-B")}},
        "config": {"dataset": cfg.dataset, "test_sets": list(cfg.test_sets), "preset": cfg.preset,
                   "device": device, "seed": cfg.seed, "executor": cfg.executor},
        "runs": [{"run": p.name, "method": p.method, "params": p.params, "skipped": p.skip,
                  "fit_seconds": (models.get(p.name) or {}).get("seconds"),
                  "model_dir": (models.get(p.name) or {}).get("model_dir")} for p in planned],
        "reference_runs": REFERENCE_RUNS,
        "skipped": skipped,
        "failures": failures,
        "metrics": {name: {"kind": m.kind, "emits": m.directions(), "policy": m.policy(),
                           "description": m.description, "calibrated": name in (calibrated or {})}
                    for name in (cfg.metrics or list(registry.metrics()))
                    for m in (metric_instance(name, (calibrated or {}).get(name)),)},
        "metric_seconds_per_case": metric_seconds,
        "unavailable_metrics": unavailable,
        "harmonized": {f"{k[0]}|{k[1]}": v["files"] for k, v in harm.items()},
        "work_dir": str(work),
    }
