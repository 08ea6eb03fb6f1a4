"""Units of work: pure, picklable top-level functions of (paths, names, parameters).

Each unit checks its cache record first and returns it unchanged when present, so a rerun
recomputes only what changed; outputs are written atomically, so an interrupted unit leaves
nothing behind. Units receive and return paths and small dicts, never volumes, so they can
be shipped to remote workers.

The cache heals itself. A record stores paths relative to its own folder, so a copied work
directory reads its own files, never the original's. A record whose files are missing is
deleted and its unit recomputed. A score record names the content digest of the image it scored,
so re-harmonizing an image re-scores it (unless the new file has the same bytes).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.errors import ArtifactError, PluginError
from harmbench.harness.cache import commit_dir, read_json, temp_dir_beside, write_json
from harmbench.io import save_volume
from harmbench.method import BaseMethod
from harmbench.metrics.base import ScoringContext
from harmbench.preprocess.intensity import invert_scale
from harmbench.preprocess.settings import PREPROCESSING_FILE, record_for_cohort, write_preprocessing
from harmbench.training.history import TrainingHistory, summarize
from harmbench.volume import Volume


def fit_unit(method: str, params: dict[str, Any], manifest: str, model_dir: str, work_dir: str) -> dict:
    """Fit ``method`` on the manifest's train/val splits; the model lands in ``model_dir``.

    The model directory also receives ``preprocessing.json``: how the training data was prepared
    (:mod:`harmbench.preprocess.settings`), which ``harmbench harmonize`` applies to raw files;
    and, when the fitted method exposes ``training_history_``, ``training_history.json``
    (:mod:`harmbench.training.history`). Both are written before the directory is committed.
    Returns ``{"model_dir", "seconds", "cached", "training"}``; ``training`` is
    :func:`~harmbench.training.history.summarize` of the history, or None without one.
    """
    final = Path(model_dir)
    cached = _cached_fit(final)
    if cached is not None:
        if not (final / PREPROCESSING_FILE).exists():  # a model cached before models recorded it
            cohort = Cohort.from_manifest(manifest).subset(("train", "val"))
            write_preprocessing(record_for_cohort(cohort), final)
        return {"model_dir": str(final), "seconds": cached["seconds"], "cached": True, "training": cached["training"]}
    m = registry.build_method(method, params, check=False)  # checked at planning
    if "work_dir" in m.get_params() and m.get_params().get("work_dir") is None:
        m.set_params(work_dir=str(Path(work_dir)))
    cohort = Cohort.from_manifest(manifest).subset(("train", "val"))
    t0 = time.perf_counter()
    m.fit(cohort)
    seconds = time.perf_counter() - t0
    history = _training_history(m)
    tmp = temp_dir_beside(final)
    try:
        m.save(tmp)
        write_preprocessing(record_for_cohort(cohort), tmp)
        if history is not None:
            history.save(tmp)
        write_json(tmp / "fit.json", {"seconds": seconds, "method": method, "params": params,
                                      "training_history": history is not None})
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"model_dir": str(final), "seconds": seconds, "cached": False,
            "training": summarize(history) if history is not None else None}


def _training_history(method: BaseMethod) -> TrainingHistory | None:
    """The fitted method's ``training_history_``, None without one, a PluginError if it is not a history."""
    history = getattr(method, "training_history_", None)
    if history is not None and not isinstance(history, TrainingHistory):
        raise PluginError(f"{method.name}: training_history_ must be a harmbench.training.history."
                          f"TrainingHistory; got {type(history).__name__}")
    return history


def _cached_fit(model_dir: Path) -> dict | None:
    """``{"seconds", "training"}`` of a complete cached model, or None when it must be (re)fitted.

    A model whose ``fit.json`` says it recorded a training history is complete only with that
    history readable: a missing or damaged history refits, like any other missing file.
    """
    if not _model_complete(model_dir):
        return None
    rec = read_json(model_dir / "fit.json")
    rec = rec if isinstance(rec, dict) else {}
    try:
        history = TrainingHistory.load(model_dir)
    except (ArtifactError, ValueError, TypeError, AttributeError):  # damaged JSON, not an object, another format
        return None
    if history is None and rec.get("training_history"):
        return None
    return {"seconds": rec.get("seconds", 0.0), "training": summarize(history) if history is not None else None}


def _model_complete(model_dir: Path) -> bool:
    """True when ``artifact.json`` and every state file it lists are present."""
    from harmbench.artifacts import ARTIFACT_FILE, read_artifact_meta

    if not (model_dir / ARTIFACT_FILE).exists():
        return False
    try:
        meta = read_artifact_meta(model_dir)
    except ArtifactError:
        return False
    names = (["arrays.npz"] if meta.get("arrays") else []) + [f"{k}.pt" for k in meta.get("torch", [])]
    return all((model_dir / n).exists() for n in names)


def load_fitted(method: str, params: dict[str, Any], model_dir: str | None) -> BaseMethod:
    cls = registry.get_method(method)
    if model_dir:
        return cls.load(model_dir)
    return registry.build_method(method, params, check=False)  # checked at planning


def harmonize_unit(method: str, params: dict[str, Any], model_dir: str | None, manifest: str, case_id: str,
                   out_dir: str) -> dict:
    """Harmonize one case's FU (and, with an inverse, reconstruct BL->FU->BL).

    Writes ``<out_dir>/FU_harmonized.nii.gz`` (prepared [0, 1] space, for scoring),
    ``FU_harmonized_native.nii.gz`` (in the BL scanner's units: the case's BL scaling inverted,
    as ``harmbench harmonize`` writes it) and
    optionally ``BL_recon.nii.gz``; ``record.json`` is written last and marks completion.
    """
    out = Path(out_dir)
    rec = cached_harmonization(out)
    if rec is not None:
        return {**rec, "cached": True}
    (out / RECORD).unlink(missing_ok=True)  # a stale record (files gone) must never outlive a failed redo
    case = _case(manifest, case_id)
    m = load_fitted(method, params, model_dir)
    bl, fu = case.volume("BL"), case.volume("FU")
    t0 = time.perf_counter()
    h = m.transform(fu, reference=bl if m.capabilities.needs_reference else None)
    seconds = time.perf_counter() - t0
    files = {"harmonized": "FU_harmonized.nii.gz"}
    save_volume(h, out / files["harmonized"])
    scale = case.ref("BL").scale  # a harmonized FU belongs in the BL scanner's units
    if scale is not None:
        files["native"] = "FU_harmonized_native.nii.gz"
        save_volume(h.with_data(invert_scale(h.data, *scale)), out / files["native"])
    if m.capabilities.has_inverse:
        recon = m.transform(m.inverse_transform(bl), reference=bl if m.capabilities.needs_reference else None)
        files["recon"] = "BL_recon.nii.gz"
        save_volume(recon, out / files["recon"])
    rec = {"files": files, "seconds": seconds, "source": _source_digest(out, files)}
    write_json(out / RECORD, rec)
    return {**rec, "files": _absolute(out, files), "cached": False}


RECORD = "record.json"
SCORED_FILES = ("harmonized", "recon")


def cached_harmonization(out_dir: str | Path) -> dict | None:
    """The harmonize record in ``out_dir`` with absolute file paths, or None if absent or any file is missing.

    Returns ``{"files": {kind: absolute path}, "seconds", "source"}``. ``source`` is the content
    digest of the scored files, which score records are checked against. A record from an older
    harmbench (absolute paths, no digest) is upgraded in place when its files still exist.
    """
    out = Path(out_dir)
    rec = read_json(out / RECORD)
    if not isinstance(rec, dict) or not isinstance(rec.get("files"), dict):
        return None
    files = _absolute(out, rec["files"])
    if not all(Path(f).exists() for f in files.values()):
        return None
    if "source" not in rec:
        rel = {k: _relative(out, Path(v)) for k, v in files.items()}
        rec = {**rec, "files": rel, "source": _source_digest(out, rel)}
        write_json(out / RECORD, rec)
    return {**rec, "files": files}


def _absolute(out: Path, files: dict[str, str]) -> dict[str, str]:
    return {k: str(out / v) for k, v in files.items()}  # an absolute v (older records) stays as it is


def _relative(out: Path, path: Path) -> str:
    try:
        return str(path.relative_to(out))
    except ValueError:
        return str(path)


def _source_digest(out: Path, files: dict[str, str]) -> str:
    """SHA-256 over the scored files' bytes: a score record is valid only for this content."""
    from harmbench.harness.cache import file_hash

    h = hashlib.sha256()
    for kind in SCORED_FILES:
        if kind in files:
            h.update(f"{kind}:{file_hash(out / files[kind])}\n".encode())
    return h.hexdigest()


def score_unit(case_id: str, manifest: str, image: str | None, recon: str | None, records: dict[str, str],
               session: str = "FU", params: dict[str, dict[str, Any]] | None = None,
               source: str | None = None) -> dict:
    """Score one harmonized image (or the original FU / FU2 when ``image`` is None) against BL.

    ``records`` maps each metric name to its own cache record, so adding or changing one metric
    recomputes only that metric. Images are loaded only when an available metric has no record.
    ``params`` maps a metric name to calibrated constructor parameters (:mod:`harmbench.harness.calibration`).
    ``source`` is the harmonize record's digest of ``image``/``recon``; a score record made
    from other content is recomputed.
    Returns ``{"rows": [{"metric", "region", "value"}...], "seconds": {metric: s},
    "unavailable": {metric: reason}, "cached": bool}`` with rows in ``records`` order.
    """
    done = {name: _score_record(Path(path), source) for name, path in records.items()}
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
            write_json(Path(records[name]), {**done[name], **({"source": source} if source else {})})
    rows: list[dict] = []
    seconds: dict[str, float] = {}
    for name, rec in done.items():
        if rec is not None:
            rows += rec["rows"]
            seconds[name] = rec["seconds"]
    return {"rows": rows, "seconds": seconds, "unavailable": unavailable, "cached": not todo}


def _score_record(path: Path, source: str | None) -> dict | None:
    rec = read_json(path)
    if not isinstance(rec, dict) or "rows" not in rec:
        return None
    if source is not None and rec.get("source") != source:
        return None  # scored an earlier version of the image
    return rec


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


_COHORTS: dict[tuple, Cohort] = {}


def _case(manifest: str, case_id: str):
    st = Path(manifest).stat()  # an edited manifest must not be served from this process's memo
    key = (str(manifest), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    cohort = _COHORTS.get(key)
    if cohort is None:
        _COHORTS.clear()
        cohort = _COHORTS[key] = Cohort.from_manifest(manifest)
    for c in cohort.cases:
        if c.case_id == case_id:
            return c
    raise KeyError(case_id)
