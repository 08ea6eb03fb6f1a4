"""Units of work: pure, picklable top-level functions of (paths, names, parameters).

Each unit checks its cache record first and returns it unchanged when present, so a rerun
recomputes only what changed; outputs are written atomically, so an interrupted unit leaves
nothing behind. Units receive and return paths and small dicts, never volumes, so they can
be shipped to remote workers.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from harmbench import registry
from harmbench.cohort import Cohort
from harmbench.harness.cache import commit_dir, read_json, temp_dir_beside, write_json
from harmbench.intensity import from_unit
from harmbench.io import save_volume
from harmbench.method import BaseMethod
from harmbench.metrics.base import ScoringContext
from harmbench.volume import Volume


def make_method(method: str, params: dict[str, Any]) -> BaseMethod:
    cls = registry.get_method(method)
    m = cls()
    m.set_params(**params)
    return m


def fit_unit(method: str, params: dict[str, Any], manifest: str, model_dir: str, work_dir: str) -> dict:
    """Fit ``method`` on the manifest's train/val splits; the model lands in ``model_dir``.

    Returns ``{"model_dir", "seconds", "cached"}``.
    """
    final = Path(model_dir)
    if (final / "artifact.json").exists():
        rec = read_json(final / "fit.json") or {}
        return {"model_dir": str(final), "seconds": rec.get("seconds", 0.0), "cached": True}
    m = make_method(method, params)
    if "work_dir" in m.get_params() and m.get_params().get("work_dir") is None:
        m.set_params(work_dir=str(Path(work_dir)))
    cohort = Cohort.from_manifest(manifest).subset(("train", "val"))
    t0 = time.perf_counter()
    m.fit(cohort)
    seconds = time.perf_counter() - t0
    tmp = temp_dir_beside(final)
    try:
        m.save(tmp)
        write_json(tmp / "fit.json", {"seconds": seconds, "method": method, "params": params})
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"model_dir": str(final), "seconds": seconds, "cached": False}


def load_fitted(method: str, params: dict[str, Any], model_dir: str | None) -> BaseMethod:
    cls = registry.get_method(method)
    if model_dir:
        return cls.load(model_dir)
    return make_method(method, params)


def harmonize_unit(method: str, params: dict[str, Any], model_dir: str | None, manifest: str, case_id: str,
                   out_dir: str) -> dict:
    """Harmonize one case's FU (and, with an inverse, reconstruct BL->FU->BL).

    Writes ``<out_dir>/FU_harmonized.nii.gz`` (prepared [0, 1] space, for scoring),
    ``FU_harmonized_native.nii.gz`` (original intensity range, FU's scaling inverted) and
    optionally ``BL_recon.nii.gz``; ``record.json`` is written last and marks completion.
    """
    out = Path(out_dir)
    rec = read_json(out / "record.json")
    if rec is not None:
        return {**rec, "cached": True}
    case = _case(manifest, case_id)
    m = load_fitted(method, params, model_dir)
    bl, fu = case.volume("BL"), case.volume("FU")
    t0 = time.perf_counter()
    h = m.transform(fu, reference=bl if m.capabilities.needs_reference else None)
    seconds = time.perf_counter() - t0
    files = {"harmonized": str(save_volume(h, out / "FU_harmonized.nii.gz"))}
    scale = case.ref("FU").scale
    if scale is not None:
        files["native"] = str(save_volume(from_unit(h, scale), out / "FU_harmonized_native.nii.gz"))
    if m.capabilities.has_inverse:
        recon = m.transform(m.inverse_transform(bl), reference=bl if m.capabilities.needs_reference else None)
        files["recon"] = str(save_volume(recon, out / "BL_recon.nii.gz"))
    rec = {"files": files, "seconds": seconds}
    write_json(out / "record.json", rec)
    return {**rec, "cached": False}


def score_unit(case_id: str, manifest: str, image: str | None, recon: str | None, records: dict[str, str],
               session: str = "FU", params: dict[str, dict[str, Any]] | None = None) -> dict:
    """Score one harmonized image (or the original FU / FU2 when ``image`` is None) against BL.

    ``records`` maps each metric name to its own cache record, so adding or changing one metric
    recomputes only that metric. Images are loaded only when an available metric has no record.
    ``params`` maps a metric name to calibrated constructor parameters (:mod:`harmbench.harness.calibration`).
    Returns ``{"rows": [{"metric", "region", "value"}...], "seconds": {metric: s},
    "unavailable": {metric: reason}, "cached": bool}`` with rows in ``records`` order.
    """
    done = {name: read_json(Path(path)) for name, path in records.items()}
    unavailable: dict[str, str] = {}
    todo = []
    for name in (n for n, rec in done.items() if rec is None):
        reason = registry.get_metric(name).available()
        if reason:                          # not cached: installing the weights later makes it run
            unavailable[name] = reason
        else:
            todo.append(name)
    if todo:
        ctx = _scoring_context(case_id, manifest, image, recon, session)
        for name in todo:
            t0 = time.perf_counter()
            values = metric_instance(name, (params or {}).get(name)).compute(ctx)
            rows = [{"metric": v.metric, "region": v.region, "value": float(v.value)} for v in values]
            done[name] = {"rows": rows, "seconds": time.perf_counter() - t0}
            write_json(Path(records[name]), done[name])
    rows: list[dict] = []
    seconds: dict[str, float] = {}
    for name, rec in done.items():
        if rec is not None:
            rows += rec["rows"]
            seconds[name] = rec["seconds"]
    return {"rows": rows, "seconds": seconds, "unavailable": unavailable, "cached": not todo}


def metric_instance(name: str, params: dict[str, Any] | None = None):
    """The registered metric ``name``, with calibrated ``params`` applied when given."""
    metric = registry.get_metric(name)
    return metric.with_params(**params) if params else metric


def _scoring_context(case_id: str, manifest: str, image: str | None, recon: str | None,
                     session: str) -> ScoringContext:
    from harmbench.io import load_volume

    case = _case(manifest, case_id)
    scored: Volume = load_volume(image) if image else case.volume(session)
    return ScoringContext(
        case=case, bl=case.volume("BL"), fu=scored, fu_original=case.volume("FU"),
        recon=load_volume(recon) if recon else None,
        labels_bl=case.labels("BL"), labels_fu=case.labels(session),
        lesion_bl=case.lesion("BL"), lesion_fu=case.lesion(session),
        slice_range=case.slice_range, change=case.change,
    )


_COHORTS: dict[str, Cohort] = {}


def _case(manifest: str, case_id: str):
    cohort = _COHORTS.get(manifest)
    if cohort is None:
        cohort = _COHORTS[manifest] = Cohort.from_manifest(manifest)
    for c in cohort.cases:
        if c.case_id == case_id:
            return c
    raise KeyError(case_id)
