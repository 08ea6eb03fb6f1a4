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
from harmbench.metrics.shared import SharedWork
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
    """The fitted ``method`` from ``model_dir`` (or a new one that needs no fit).

    The last model loaded in this process is kept for the next unit of the same fit (the harmonize
    stage runs a fit's cases one after another), keyed on the folder and its ``artifact.json``
    (size and times), so a refitted model is read again. ``transform`` never changes a method.
    """
    cls = registry.get_method(method)
    if not model_dir:
        return registry.build_method(method, params, check=False)  # checked at planning
    from harmbench.artifacts import ARTIFACT_FILE

    try:
        st = (Path(model_dir) / ARTIFACT_FILE).stat()
        key = (method, str(Path(model_dir).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        return cls.load(model_dir)  # load reports the missing model
    hit = _FITTED.get(key)
    if hit is None:
        _FITTED.clear()
        hit = _FITTED[key] = cls.load(model_dir)
    return hit


#: the last fitted model loaded in this process (:func:`load_fitted`)
_FITTED: dict[tuple, BaseMethod] = {}


def harmonize_unit(method: str, params: dict[str, Any], model_dir: str | None, manifest: str, case_id: str,
                   out_dir: str) -> dict:
    """Harmonize one case's FU (and, with an inverse, reconstruct BL->FU->BL).

    Writes ``<out_dir>/FU_harmonized.nii`` (prepared [0, 1] space, for scoring),
    ``FU_harmonized_native.nii`` (in the BL scanner's units: the case's BL scaling inverted,
    as ``harmbench harmonize`` writes it) and
    optionally ``BL_recon.nii``; ``record.json`` is written last and marks completion.
    The images are uncompressed NIfTI (:data:`IMAGE_SUFFIX`): gzip saves ≈ 13 % of a float32
    image with noise and costs ≈ 20x the write time. Records made with ``.nii.gz`` names stay valid.
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
    files = {"harmonized": f"FU_harmonized{IMAGE_SUFFIX}"}
    save_volume(h, out / files["harmonized"])
    scale = case.ref("BL").scale  # a harmonized FU belongs in the BL scanner's units
    if scale is not None:
        files["native"] = f"FU_harmonized_native{IMAGE_SUFFIX}"
        save_volume(h.with_data(invert_scale(h.data, *scale)), out / files["native"])
    if m.capabilities.has_inverse:
        recon = m.transform(m.inverse_transform(bl), reference=bl if m.capabilities.needs_reference else None)
        files["recon"] = f"BL_recon{IMAGE_SUFFIX}"
        save_volume(recon, out / files["recon"])
    rec = {"files": files, "seconds": seconds, "source": _source_digest(out, files)}
    write_json(out / RECORD, rec)
    return {**rec, "files": _absolute(out, files), "cached": False}


RECORD = "record.json"
#: suffix of the images a harmonize unit writes: uncompressed NIfTI (see :func:`harmonize_unit`)
IMAGE_SUFFIX = ".nii"
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


def score_case_unit(jobs: list[dict[str, Any]]) -> list:
    """:func:`score_unit` for several images of one case, one after another in this process.

    ``jobs`` holds one dict of :func:`score_unit` keyword arguments per image (all of one case).
    Scoring a case's images together computes the case's share of the metrics' work once
    (:mod:`harmbench.metrics.shared`), whichever worker runs it. Returns one
    :class:`~harmbench.harness.executor.Outcome` per job, in order: a failing image becomes an
    outcome with ``error`` set and never stops the others.
    """
    from harmbench.harness.executor import Task, run_task

    return [run_task(Task((i,), score_unit, kwargs=job)) for i, job in enumerate(jobs)]


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
    """The context of one scored image; the case's own images and work are shared (:func:`_case_inputs`)."""
    from harmbench.io import load_volume

    case, fixed, stores = _case_inputs(manifest, case_id, session)
    scored: Volume = load_volume(image) if image else fixed["session"]
    ctx = ScoringContext(
        case=case, bl=fixed["bl"], fu=scored, fu_original=fixed["fu_original"],
        recon=load_volume(recon) if recon else None,
        labels_bl=fixed["labels_bl"], labels_fu=fixed["labels_fu"],
        lesion_bl=fixed["lesion_bl"], lesion_fu=fixed["lesion_fu"],
        slice_range=case.slice_range, change=case.change, lesion_bl_mm3=case.ref("BL").lesion_mm3,
        lesion_fu_mm3=case.ref(session).lesion_mm3 if case.has(session) else None,
    )
    ctx.shared = SharedWork(*stores)
    return ctx


#: the last case scored in this process: ``{key: (case, inputs, case store, {session: (inputs, store)})}``
_CASE_INPUTS: dict[tuple, tuple] = {}


def _case_inputs(manifest: str, case_id: str, session: str) -> tuple[Any, dict[str, Any], tuple[dict, dict]]:
    """The case, its fixed inputs for ``session`` and its shared metric work.

    The inputs are BL, the original FU, the session's image (the scored image of a reference row),
    the label maps and the lesion masks; the work is the ``case`` and ``session`` stores of
    :class:`~harmbench.metrics.shared.SharedWork`. All are kept for the next image of the same case
    in this process (the score stage orders its units case by case), keyed on the manifest's
    identity (path, size, times) like :func:`_case`, the case and the state (size, times) of every
    file of the case, so a rewritten image is read again; only the last case is kept, so memory
    stays bounded.
    """
    case = _case(manifest, case_id)
    st = Path(manifest).stat()
    key = (str(manifest), st.st_size, st.st_mtime_ns, st.st_ctime_ns, case_id, _files_state(case))
    hit = _CASE_INPUTS.get(key)
    if hit is None or hit[0] is not case:
        _CASE_INPUTS.clear()  # drop the previous case before loading this one
        base = {"bl": case.volume("BL"), "fu_original": case.volume("FU"), "labels_bl": case.labels("BL"),
                "lesion_bl": case.lesion("BL")}
        hit = _CASE_INPUTS[key] = (case, base, {}, {})
    _, base, case_store, sessions = hit
    if session not in sessions:
        fixed = {**base, "labels_fu": case.labels(session), "lesion_fu": case.lesion(session),
                 "session": base["fu_original"] if session == "FU" else case.volume(session)}
        sessions[session] = (fixed, {})
    fixed, session_store = sessions[session]
    return case, fixed, (case_store, session_store)


def _files_state(case: Any) -> tuple:
    """(path, inode, size, mtime, ctime) of every image, label map and lesion mask of ``case``."""
    out = []
    for session in sorted(case.sessions):
        ref = case.ref(session)
        for path in (ref.image, ref.labels, ref.lesion):
            if path is not None:
                try:
                    st = Path(path).stat()
                    out.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
                except OSError:
                    out.append((str(path), None))
    return tuple(out)


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
