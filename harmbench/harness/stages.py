"""The stages of ``harmbench evaluate``: fit, harmonize, calibrate, score.

Each stage takes one :class:`StageContext` (plus the records of the stages before it) and returns
a :class:`StageResult`: its records, the failures of its units and its wall time. No stage
changes its arguments; the runner (:mod:`harmbench.harness.runner`) combines the results. A
stage turns work into :class:`~harmbench.harness.executor.Task` objects of the units in
:mod:`harmbench.harness.units`, runs them on the context's executor and reads the outcomes in
task order, so its records and failures do not depend on which executor ran it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from harmbench import registry
from harmbench.data.cohort import Case, Cohort
from harmbench.console import progress
from harmbench.harness.calibration import calibrate_metrics
from harmbench.harness.executor import Executor, Outcome, Placement, Task
from harmbench.harness.layout import RunCache, WorkLayout
from harmbench.harness.plan import REFERENCE_RUNS, EvalConfig, PlannedRun
from harmbench.harness.units import (cached_harmonization, fit_unit, harmonize_unit, metric_instance,
                                     score_case_unit)

R = TypeVar("R")
#: ``(fit key, case id)``: the key of a harmonized image and of its scores; the fit key is
#: :attr:`PlannedRun.key` (``pix2pix seed 1``, or the run name for a method that does not learn)
RunCase = tuple[str, str]


@dataclass(frozen=True)
class StageContext:
    """What every stage of one evaluation reads; nothing in it changes while the stages run.

    Attributes:
        executor: runs the units.
        manifest: the prepared manifest CSV (units re-open it wherever they run).
        cohort: the dataset read from ``manifest``.
        layout: the work directory's paths and keys (its ``dataset`` is the content hash).
        runs: the fits to evaluate (planned and not skipped): one per run and seed.
        cases: ``(test-set letter, case)`` pairs to harmonize and score.
        metrics: metric registry names to score.
        config: the evaluation configuration.
    """

    executor: Executor
    manifest: str
    cohort: Cohort
    layout: WorkLayout
    runs: tuple[PlannedRun, ...]
    cases: tuple[tuple[str, Case], ...]
    metrics: tuple[str, ...]
    config: EvalConfig

    def run_cache(self, run: PlannedRun) -> RunCache:
        """The cache of ``run``: keyed on its effective parameters, preset values and artifact version.

        Effective = every ``__init__`` default overridden by the run's values, so ``m[lam=10]`` and
        ``m`` (default 10) share a cache, while changing a default or a preset's values in the code
        gives new keys instead of reusing models fitted under the old values. A learned run's seed
        is one of its parameters, so each seed has its own model, harmonized images and score
        records, and seed 0 keeps the keys a one-seed run always had.
        """
        cls = registry.get_method(run.method)
        effective = {**cls.param_defaults(), **run.params}
        preset = (getattr(cls, "presets", {}) or {}).get(effective.get("preset"), {})
        return self.layout.run(run.method, dict(sorted(effective.items())), cls.artifact_version,
                               preset_values=dict(sorted(preset.items())))


@dataclass(frozen=True)
class StageResult(Generic[R]):
    """What a stage produced: ``records``, the failures of its units, its wall time in seconds.

    A failure is ``{"stage", "tag", "error"}`` (``tag`` as a list), in task order.
    """

    records: R
    failures: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Scores:
    """The score stage's records.

    Attributes:
        rows: one dict per value, with the :data:`~harmbench.harness.runner.RESULT_COLUMNS`.
        metric_seconds: mean seconds per scored image, per metric (computed ones only).
        unavailable: metric name -> why it could not run (e.g. weights not installed).
    """

    rows: list[dict[str, Any]]
    metric_seconds: dict[str, float]
    unavailable: dict[str, str]


def run_tasks(ctx: StageContext, tasks: list[Task], label: str, stage: str,
              name_done: bool = False) -> tuple[list[Outcome], tuple[dict[str, Any], ...]]:
    """Run ``tasks`` on the context's executor with a progress bar: outcomes and failures, in task order.

    With ``name_done`` the bar names the last finished task (``fitting methods (pix2pix seed 1 done)``).
    """
    if not tasks:
        return [], ()
    with progress() as prog:
        bar = prog.add_task(label, total=len(tasks))

        def done(o: Outcome) -> None:
            prog.update(bar, advance=1, description=f"{label} ({o.tag[0]} done)" if name_done else label)

        outcomes = ctx.executor.run(tasks, done)
    failures = tuple({"stage": stage, "tag": list(o.tag), "error": o.error} for o in outcomes if o.error)
    return outcomes, failures


def fit_stage(ctx: StageContext) -> StageResult[dict[str, dict]]:
    """Fit every run that trains, once per seed; records map a fit key (:attr:`PlannedRun.key`) to its
    :func:`fit_unit` result.

    A method that does not train gets ``{"model_dir": None, "seconds": 0.0, "cached": True}``.
    """
    t0 = time.perf_counter()
    models: dict[str, dict] = {}
    tasks = []
    for p in ctx.runs:
        cls = registry.get_method(p.method)
        if not cls.capabilities.needs_training:
            models[p.key] = {"model_dir": None, "seconds": 0.0, "cached": True}
            continue
        cache = ctx.run_cache(p)
        gpu = ctx.config.gpu_resources and cls.capabilities.supports_gpu
        # a fit uses every core itself, so fits run one at a time in this process
        placement = Placement(in_process=True, resources={"GPU": 1} if gpu else None)
        tasks.append(Task((p.key,), fit_unit, (p.method, p.params, ctx.manifest, str(cache.model_dir),
                                                 str(cache.train_dir)), placement=placement))
    outcomes, failures = run_tasks(ctx, tasks, "fitting methods", "fit", name_done=True)
    models.update((o.tag[0], o.result) for o in outcomes if not o.error)
    return StageResult(models, failures, time.perf_counter() - t0)


def harmonize_stage(ctx: StageContext, models: dict[str, dict]) -> StageResult[dict[RunCase, dict]]:
    """Harmonize every test case with every fit; records map (fit key, case) to :func:`harmonize_unit`'s
    result."""
    t0 = time.perf_counter()
    tasks = []
    for p in ctx.runs:
        if p.key not in models:
            continue
        cache = ctx.run_cache(p)
        for _, case in ctx.cases:
            out_dir = cache.harmonized_dir(case.case_id)
            tasks.append(Task((p.key, case.case_id), harmonize_unit,
                              (p.method, p.params, models[p.key]["model_dir"], ctx.manifest, case.case_id,
                               str(out_dir)),
                              placement=Placement(in_process=cached_harmonization(out_dir) is not None)))
    outcomes, failures = run_tasks(ctx, tasks, "harmonizing test cases", "harmonize")
    harm = {tuple(o.tag): o.result for o in outcomes if not o.error}
    return StageResult(harm, failures, time.perf_counter() - t0)


def calibrate_stage(ctx: StageContext) -> StageResult[dict[str, dict[str, Any]]]:
    """Calibrated parameters per metric (:mod:`harmbench.harness.calibration`), in this process."""
    t0 = time.perf_counter()
    calibrated = calibrate_metrics(list(ctx.metrics), ctx.cohort, ctx.layout)
    return StageResult(calibrated, (), time.perf_counter() - t0)


def score_stage(ctx: StageContext, harm: dict[RunCase, dict],
                calibrated: dict[str, dict[str, Any]]) -> StageResult[Scores]:
    """Score the reference runs and every harmonized image with every metric.

    One task per case (:func:`score_case_unit`) scores all of that case's images, so the case's share
    of the metrics' work (BL features, masks, segmentations: :mod:`harmbench.metrics.shared`) is
    computed once; each image keeps its own cache records and its own failure.
    """
    t0 = time.perf_counter()
    jobs: dict[str, list[tuple[RunCase, dict[str, Any], bool]]] = {case.case_id: [] for _, case in ctx.cases}
    meta = {}
    # one cache record per (metric policy, scored image): changing one metric re-scores only it
    keys = {m: ctx.layout.score_key(metric_instance(m, calibrated.get(m)).policy()) for m in ctx.metrics}
    for ref_run, session in REFERENCE_RUNS.items():
        for letter, case in ctx.cases:
            if not case.has(session):
                continue
            recs = ctx.layout.score_records(keys, ref_run, case.case_id)
            jobs[case.case_id].append(((ref_run, case.case_id), _score_job(
                case.case_id, ctx.manifest, None, None, recs, session, calibrated), _all_exist(recs)))
            meta[(ref_run, case.case_id)] = (letter, "reference", ref_run, None)
    for p in ctx.runs:
        run_dir = ctx.run_cache(p).score_dir
        for letter, case in ctx.cases:
            h = harm.get((p.key, case.case_id))
            if h is None:
                continue
            files = h["files"]
            recs = ctx.layout.score_records(keys, run_dir, case.case_id)
            jobs[case.case_id].append(((p.key, case.case_id), _score_job(
                case.case_id, ctx.manifest, files["harmonized"], files.get("recon"), recs, "FU", calibrated,
                h.get("source")), h.get("cached", True) and _all_exist(recs)))
            meta[(p.key, case.case_id)] = (letter, p.method, p.name, p.seed)
    tasks = [Task((case_id,), score_case_unit, ([job for _, job, _ in group],),
                  placement=Placement(in_process=all(done for _, _, done in group)))
             for case_id, group in jobs.items() if group]
    outcomes, _ = run_tasks(ctx, tasks, "scoring", "score")
    results: list[Outcome] = []
    for task, o in zip(tasks, outcomes):
        tags = [tag for tag, _, _ in jobs[task.tag[0]]]
        if o.error:  # the whole case failed (e.g. its worker died): every image of it fails
            results += [Outcome(tag, o.result, o.error) for tag in tags]
        else:
            results += [Outcome(tag, r.result, r.error) for tag, r in zip(tags, o.result)]
    failures = tuple({"stage": "score", "tag": list(o.tag), "error": o.error} for o in results if o.error)
    rows: list[dict[str, Any]] = []
    seconds: dict[str, list[float]] = {}
    unavailable: dict[str, str] = {}
    for o in results:
        if o.error:
            continue
        letter, method, run, seed = meta[tuple(o.tag)]
        rows.extend({"dataset": ctx.cohort.name, "test_set": letter, "method": method, "run": run,
                     "seed": seed, "case": o.tag[1], **r} for r in o.result["rows"])
        for k, v in o.result.get("seconds", {}).items():
            seconds.setdefault(k, []).append(v)
        unavailable.update(o.result.get("unavailable", {}))
    scores = Scores(rows, {k: sum(v) / len(v) for k, v in seconds.items()}, unavailable)
    return StageResult(scores, failures, time.perf_counter() - t0)


def _score_job(case_id: str, manifest: str, image: str | None, recon: str | None, records: dict[str, str],
               session: str, params: dict[str, dict[str, Any]], source: str | None = None) -> dict[str, Any]:
    """Keyword arguments of one :func:`score_unit` call."""
    return {"case_id": case_id, "manifest": manifest, "image": image, "recon": recon, "records": records,
            "session": session, "params": params, "source": source}


def _all_exist(records: dict[str, str]) -> bool:
    return all(Path(r).exists() for r in records.values())
