"""Harmonize every FU and FU2 of a raw manifest (``harmbench harmonize --manifest M --out DIR``).

Each image goes through :func:`harmbench.harmonize_file.harmonize_volumes` with its case's BL as
the reference. The output folder holds::

    cases/<case>/<session>_harmonized.nii.gz   the result (BL units, on the --space grid)
    cases/<case>/<session>.json                its record, written after the image
    manifest.csv                               BL rows (original files) + one row per harmonized image
    harmonize.json                             method, model, space, preprocessing, failures

Every image is checked and read when its turn comes, so an unreadable file fails only its own image.
Resume: an image whose record names the same method, model content, space and input files
(size and modification time) is not redone. Failure isolation: an image that fails (a bad file,
a failed registration, a declined scanner) is listed in ``harmonize.json`` and left out of the
output manifest; the other images go on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harmbench.errors import DataError, HarmbenchError
from harmbench.io import load_volume, require_writable_dir, save_volume, write_json_atomic, write_text_atomic
from harmbench.data.manifest import is_prepared, read_manifest, resolve
from harmbench.registry import build_run

OUT_RECORD = "harmonize.json"
FOLLOW_UPS = ("FU", "FU2")


@dataclass
class BatchResult:
    """What :func:`harmonize_manifest` did: images done now / earlier, failures, warnings."""

    manifest: Path
    done: int = 0
    cached: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def harmonize_manifest(method_spec: str, *, model: Path | None, manifest: Path, out: Path,
                       space: str | None = None, force: bool = False) -> BatchResult:
    """Harmonize every FU/FU2 of ``manifest`` into ``out``; returns counts, failures and notes.

    Raises:
        DataError: the manifest is prepared or invalid, ``out`` holds other files (without
            ``force``), or the method/model cannot be loaded. Per-image problems do not raise.
    """
    from harmbench.console import progress
    from harmbench.harmonize_file import check_scanner, harmonize_volumes, load_model

    df = read_manifest(manifest)
    src = Path(df.attrs["path"])
    if is_prepared(df):
        raise DataError(f"{src} is a prepared manifest; give the raw manifest it was prepared from "
                        f"(harmonize applies the model's preprocessing itself)")
    dup = df[df.duplicated(["case", "session"])]
    if len(dup):
        first = dup.iloc[0]
        raise DataError(f"manifest {src} lists case {first['case']} {first['session']} more than once")
    out = Path(out)
    _check_out(out, force)
    method, record, notes = load_model(build_run(method_spec), model)
    base = {"method": method_spec, "model": _model_digest(model), "space": space,
            "preprocessing": record.to_json() if record else None}
    rows = df.to_dict("records")
    bl_rows = {r["case"]: r for r in rows if r["session"] == "BL"}
    jobs = [r for r in rows if r["session"] in FOLLOW_UPS]
    result = BatchResult(manifest=out / "manifest.csv", notes=list(notes))
    done_rows: dict[tuple[str, str], dict] = {}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / OUT_RECORD, {**base, "manifest": str(src), "status": "running"})
    with progress() as prog:
        bar = prog.add_task("harmonizing", total=len(jobs))
        for row in jobs:
            bl_row = bl_rows.get(row["case"])
            fu_path = resolve(df, row["image"])
            bl_path = resolve(df, bl_row["image"]) if bl_row else None
            stem = out / "cases" / _safe(str(row["case"])) / f"{_safe(row['session'])}"
            dest, rec_path = stem.with_name(stem.name + "_harmonized.nii.gz"), stem.with_suffix(".json")
            key = _key(base, fu_path, bl_path)
            rec = _read(rec_path)
            try:
                if bl_path is None:
                    raise DataError(f"case {row['case']} has no BL image to register {row['session']} to")
                if rec is not None and rec.get("key") == key and dest.exists():
                    result.cached += 1
                else:
                    warning = check_scanner(method, record, row["scanner"])
                    if warning and warning not in result.notes:
                        result.notes.append(warning)
                    meta = {k: row[k] for k in ("case", "session", "scanner", "vendor")}
                    fu = load_volume(fu_path, **meta)
                    bl = load_volume(bl_path)
                    h = harmonize_volumes(method, record, fu, bl, space=space)
                    result.notes += [x for x in h.notes if x not in result.notes]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    save_volume(h.volume, dest, protect=(fu_path, bl_path))
                    rec = {"key": key, "source": str(fu_path), "reference": str(bl_path),
                           "space": h.space, "units": h.units, "scale": list(h.scale)}
                    write_json_atomic(rec_path, rec)
                    result.done += 1
                done_rows[(row["case"], row["session"])] = rec
            except HarmbenchError as exc:
                result.failures.append(_failure(row, str(exc)))
            except Exception as exc:  # a plugin's own bug must not stop the other images
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                result.failures.append(_failure(row, f"{type(exc).__name__}: {first}"))
            prog.advance(bar)
    _write_manifest(df, done_rows, out)
    write_json_atomic(out / OUT_RECORD, {**base, "manifest": str(src), "status": "done", "images": len(jobs),
                                         "harmonized": len(done_rows), "failures": result.failures})
    return result


def _check_out(out: Path, force: bool) -> None:
    require_writable_dir(out)
    if force or not out.is_dir() or (out / OUT_RECORD).exists() or not any(out.iterdir()):
        return
    raise DataError(f"{out} holds files that 'harmbench harmonize --manifest' did not write; "
                    f"use another --out, or --force to write there")


def _write_manifest(df: pd.DataFrame, done: dict[tuple[str, str], dict], out: Path) -> Path:
    """BL rows with absolute paths to the originals, then each harmonized image (input order)."""
    rows = []
    for row in df.to_dict("records"):
        new = dict(row)
        if row["session"] == "BL":
            for col in ("image", "labels", "lesion"):
                p = resolve(df, row.get(col, ""))
                new[col] = str(p.resolve()) if p else ""
        else:
            rec = done.get((row["case"], row["session"]))
            if rec is None:
                continue
            new["image"] = f"cases/{_safe(str(row['case']))}/{_safe(row['session'])}_harmonized.nii.gz"
            for col in ("labels", "lesion"):  # still valid only on the FU's own grid
                p = resolve(df, row.get(col, "")) if rec.get("space") == "fu" else None
                new[col] = str(p.resolve()) if p else ""
        rows.append(new)
    text = pd.DataFrame(rows, columns=list(df.columns)).to_csv(index=False, lineterminator="\n")
    return write_text_atomic(out / "manifest.csv", text)


def _failure(row: dict, error: str) -> dict[str, str]:
    return {"case": str(row["case"]), "session": str(row["session"]), "error": " ".join(error.split())}


def _key(base: dict[str, Any], *paths: Path | None) -> str:
    stats = []
    for p in paths:
        if p is None:
            stats.append(None)
            continue
        try:
            st = p.stat()
            stats.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
        except OSError:
            stats.append([str(p), None, None])
    blob = json.dumps({**base, "inputs": stats}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _model_digest(model: Path | None) -> str | None:
    """SHA-256 over the model directory's files (names and bytes)."""
    if model is None:
        return None
    from harmbench.preprocess.nifti import file_sha256

    h = hashlib.sha256()
    for f in sorted(p for p in Path(model).rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(model)}:{file_sha256(f)}\n".encode())
    return h.hexdigest()


def _read(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "case"

