"""``prepare_manifest``: the identical preprocessing applied to every image (paper §Methods).

Per case:

1. BL is resampled (linear) onto an isotropic grid of ``spacing`` mm covering its own field of
   view and orientation; its label map and lesion mask go nearest-neighbour onto the same grid.
2. FU and FU2 are registered rigidly to the prepared BL (Mattes mutual information,
   :func:`~harmbench.preprocess.register.register_rigid`) and resampled *once* from their native
   grid onto the BL grid; labels and lesion masks follow with the same transform
   (nearest-neighbour). BL, FU and FU2 then share shape and affine.
3. Every image is scaled linearly to [0, 1] (:mod:`~harmbench.preprocess.intensity`, upper bound
   from the BL head mask, which all sessions share after registration); ``lo/hi`` go into the
   manifest (``scale_lo, scale_hi``) so results can be mapped back.
4. The axial slice range (10-90 % of the head, by position) of BL is stored for all rows of the
   case (``slice_start, slice_stop``, voxel indices along BL's axial axis, half-open).

The output folder holds NIfTI files, ``manifest.csv`` (input columns + the four prepared ones) and
``dataset.json`` (``name``, ``template_space: false``, ``dataset_hash`` of the prepared content,
``source_hash`` of the inputs). A second call with unchanged inputs and settings returns at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import load_labels, load_volume, write_json_atomic, write_text_atomic
from harmbench.data.manifest import PATH_COLUMNS, PREPARED_COLUMNS, read_manifest, resolve
from harmbench.preprocess.cache import cached_output, content_hash, input_stats
from harmbench.preprocess.grid import resample
from harmbench.preprocess.guard import check_prepared_folder, remove_stale_cases
from harmbench.preprocess.nifti import write_nifti
from harmbench.preprocess.settings import BL_NATIVE, PIPELINE_VERSION, PrepareSettings
from harmbench.preprocess.slicerange import axial_slice_range
from harmbench.preprocess.steps import align_to, scale_to_unit, target_grid
from harmbench.volume import Volume

__all__ = ["BL_NATIVE", "PIPELINE_VERSION", "prepare_manifest"]
Progress = Callable[[int, int, str], None]


def prepare_manifest(manifest_path: str | Path, out_dir: str | Path | None = None, *,
                     spacing: float | None = None, progress: Progress | None = None,
                     workers: int | None = None, force: bool = False) -> Path:
    """Prepare every case of a manifest; returns the prepared ``manifest.csv``.

    Args:
        manifest_path: raw manifest CSV (or its folder).
        out_dir: destination folder; default ``<manifest dir>/prepared``.
        spacing: isotropic voxel size (mm) of the prepared grid; default: the ``prepare.spacing``
            recorded in the raw ``dataset.json`` (built presets), else BL's own resolution
            (isotropic at the smallest BL voxel size of each case). The paper used 1 mm.
        progress: optional ``progress(done, total, what)`` callback, called once per case.
        workers: cases prepared in parallel processes (default
            :func:`harmbench.parallel.default_workers`); the output does not depend on it.
        force: prepare into a folder that holds another manifest's output (its stale case
            folders are removed); without it that is refused with one line.

    Raises:
        DataError: the manifest fails validation (first problem named), or an image cannot be
            read or registered.
    """
    from harmbench.data.validate import validate_manifest  # local: validate imports manifest helpers too

    df = read_manifest(manifest_path)
    src = Path(df.attrs["path"])
    raw_meta = _read_json(src.parent / "dataset.json")
    if spacing is None and "spacing" in raw_meta.get("prepare", {}):
        spacing = float(raw_meta["prepare"]["spacing"])
    if spacing is not None and not spacing > 0:
        raise DataError(f"spacing must be > 0 mm; got {spacing}")
    out = Path(out_dir) if out_dir is not None else src.parent / "prepared"
    if out.resolve() == src.parent.resolve():
        raise DataError(f"output folder {out} is the manifest's own folder; choose another --out")
    check_prepared_folder(out, src, force=force)
    owned = (out / "dataset.json").exists()   # only a folder harmbench prepared has stale cases to remove

    settings = {"pipeline": PIPELINE_VERSION, "spacing": BL_NATIVE if spacing is None else float(spacing)}
    files = [src] + sorted({p for c in PATH_COLUMNS for v in df[c] if (p := resolve(df, v)) is not None})
    if all(f.exists() for f in files):
        stats = input_stats(files)
        hit = cached_output(out, settings, stats, files)
        if hit is not None:
            return hit
    problems = validate_manifest(src)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(f"manifest {src} is invalid: {problems[0]}{more}")
    stats = input_stats(files)

    source_hash = content_hash(files, settings)
    rows: list[dict] = []
    out_hashes: dict[str, str] = {}
    jobs = []
    folders: set[str] = set()
    for n, case in enumerate(dict.fromkeys(df["case"])):
        folder = f"cases/{_safe(str(case))}"
        if folder in folders:  # two case ids that sanitise alike
            folder = f"{folder}-{n}"
        folders.add(folder)
        records = df[df["case"] == case].to_dict("records")
        sources = [{c: resolve(df, r.get(c, "")) for c in ("image", "labels", "lesion")} for r in records]
        jobs.append((records, sources, out, PrepareSettings(spacing=spacing), folder))
    for n, (case_rows, case_hashes) in enumerate(_map_cases(jobs, workers)):
        rows.extend(case_rows)
        out_hashes.update(case_hashes)
        if progress is not None:
            progress(n + 1, len(jobs), f"prepared {case_rows[0]['case']}")

    columns = list(df.columns) + [c for c in PREPARED_COLUMNS if c not in df.columns]
    text = pd.DataFrame(rows, columns=columns).to_csv(index=False, lineterminator="\n")
    manifest = write_text_atomic(out / "manifest.csv", text)
    if owned:
        remove_stale_cases(out, folders)
    name = str(raw_meta.get("name") or src.parent.name)
    write_json_atomic(out / "dataset.json", {
        "name": name, "template_space": False, "prepared": True,
        "dataset_hash": _dataset_hash(text, out_hashes), "source_hash": source_hash,
        "source_manifest": str(src), "inputs": stats, **settings,
    })
    return manifest


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DataError(f"{path} is not valid JSON") from None


def _dataset_hash(manifest_text: str, hashes: dict[str, str]) -> str:
    h = hashlib.sha256(manifest_text.encode())
    for key in sorted(hashes):
        h.update(f"{key}:{hashes[key]}\n".encode())
    return h.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "case"


def _map_cases(jobs: list[tuple], workers: int | None):
    """Yield ``_prepare_case`` results in job order, from worker processes when it pays."""
    from harmbench.parallel import default_workers, worker_pool

    workers = min(default_workers() if workers is None else int(workers), len(jobs))
    if workers <= 1:
        yield from (_prepare_case(*job) for job in jobs)
        return
    with worker_pool(workers) as pool:
        yield from pool.map(_prepare_case, *zip(*jobs))


def _prepare_case(records: list[dict], sources: list[dict], out: Path, settings: PrepareSettings,
                  folder: str) -> tuple[list[dict], dict[str, str]]:
    """Prepare the sessions of one case (BL first), with the steps of :mod:`harmbench.preprocess.steps`.

    ``sources`` holds each record's resolved ``image``/``labels``/``lesion`` paths (None when
    absent). ``settings.spacing`` None keeps BL's resolution: isotropic at BL's smallest voxel size.
    Returns the prepared manifest rows and the SHA-256 of every written file.
    """
    hashes: dict[str, str] = {}
    order = sorted(range(len(records)), key=lambda i: ("BL", "FU", "FU2").index(records[i]["session"]))
    grid = target_grid(load_volume(sources[order[0]]["image"]), settings)
    shape, affine, head = grid.shape, grid.affine, grid.head
    slc = axial_slice_range(Volume(grid.data, affine), mask=head, drop=settings.slice_drop)
    out_rows = []
    for i in order:
        rec, src = records[i], sources[i]
        transform = None
        if rec["session"] == "BL":
            data = grid.data
        else:
            data, transform = align_to(grid, load_volume(src["image"]), settings)
        prepared, lo, hi = scale_to_unit(data, head, settings)
        new = dict(rec)
        stem = f"{folder}/{_safe(str(rec['session']))}"
        new["image"] = f"{stem}.nii.gz"
        hashes[new["image"]] = write_nifti(prepared, affine, out / new["image"], dtype=np.float32)
        for col, suffix, dtype in (("labels", "_labels", np.int16), ("lesion", "_lesion", np.uint8)):
            if src[col] is None:
                new[col] = ""
                continue
            lab, lab_aff = load_labels(src[col])
            lab = resample(lab, lab_aff, shape, affine, transform=transform, nearest=True)
            if col == "lesion":
                lab = (lab > 0).astype(np.uint8)
            new[col] = f"{stem}{suffix}.nii.gz"
            hashes[new[col]] = write_nifti(lab, affine, out / new[col], dtype=dtype)
        new.update({"scale_lo": repr(lo), "scale_hi": repr(hi), "slice_start": slc[0], "slice_stop": slc[1]})
        out_rows.append(new)
    return out_rows, hashes
