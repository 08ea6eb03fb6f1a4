"""Manifest validation: every problem of a dataset manifest as one line.

``harmbench datasets validate MANIFEST`` prints these lines and exits 2 if there are any.
Row numbers are CSV line numbers (the header is line 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import load_nifti
from harmbench.manifest import REQUIRED_COLUMNS, SESSIONS, SPLITS, is_prepared, read_manifest, resolve
from harmbench.typing import PathLike

AFFINE_TOL_MM = 1e-3


def validate_manifest(path: PathLike) -> list[str]:
    """Check a manifest and the files it names.

    Checks: readable CSV with the required columns; no empty required cells; known ``session``
    and ``split`` values; no duplicate (case, session); every case has BL and FU and one subject
    and split; FU2 on the BL scanner; no subject in two splits; every named file exists and is a
    readable 3-D NIfTI with finite intensities; ``labels``/``lesion`` match their image's shape and
    affine; label maps are integer-valued and non-negative; lesion masks are binary; ``change``
    is a number > -1. Prepared manifests also need numeric ``scale_lo < scale_hi``, a valid
    ``slice_start < slice_stop`` shared by the case, and FU/FU2 on the BL grid.

    Args:
        path: manifest CSV (or a folder containing ``manifest.csv``).

    Returns:
        One-line problem descriptions; an empty list means the manifest is valid.
    """
    try:
        df = read_manifest(path)
    except DataError as exc:
        return [str(exc)]
    problems: list[str] = []
    grids: dict[tuple[str, str], tuple[tuple[int, ...], np.ndarray]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(df.to_dict("records")):
        line = i + 2
        where = f"row {line} (case {row['case'] or '?'} {row['session'] or '?'})"
        empty = [c for c in REQUIRED_COLUMNS if not str(row[c]).strip()]
        if empty:
            problems.append(f"{where}: empty required column(s) {empty}")
        if row["session"] and row["session"] not in SESSIONS:
            problems.append(f"{where}: unknown session {row['session']!r}; expected one of {list(SESSIONS)}")
        if row["split"] and row["split"] not in SPLITS:
            problems.append(f"{where}: unknown split {row['split']!r}; expected one of {list(SPLITS)}")
        key = (row["case"], row["session"])
        if key in seen:
            problems.append(f"{where}: duplicate of row {seen[key]} (same case and session)")
        seen[key] = line
        problems.extend(_check_change(where, row.get("change", "")))
        grid = _check_files(df, row, where, problems)
        if grid is not None:
            grids[key] = grid
    problems.extend(_check_cases(df))
    if is_prepared(df):
        problems.extend(_check_prepared(df, grids))
    return problems


def _check_change(where: str, value: str) -> list[str]:
    if value in ("", None):
        return []
    try:
        v = float(value)
    except ValueError:
        return [f"{where}: change {value!r} is not a number"]
    if not math.isfinite(v) or v <= -1.0:
        return [f"{where}: change {value!r} must be a finite relative change > -1"]
    return []


def _header(path: Path, what: str, where: str, problems: list[str]):
    """Open a NIfTI header or record why not; returns the image or None."""
    if not path.exists():
        problems.append(f"{where}: {what} file not found: {path}")
        return None
    try:
        img = load_nifti(path)
    except DataError as exc:
        problems.append(f"{where}: {what}: {exc}")
        return None
    shape = img.shape[:3] if len(img.shape) == 4 and img.shape[3] == 1 else img.shape
    if len(shape) != 3:
        problems.append(f"{where}: {what} {path.name} has shape {tuple(img.shape)}; expected 3-D")
        return None
    return img


def _check_files(df: pd.DataFrame, row: dict, where: str, problems: list[str]):
    """File checks of one row; returns the image's (shape, affine) if it is readable."""
    grid = None
    img_path = resolve(df, row["image"])
    if img_path is not None:
        img = _header(img_path, "image", where, problems)
        if img is not None:
            grid = (tuple(int(s) for s in img.shape[:3]), np.asarray(img.affine))
            bad = 0
            if img.get_data_dtype().kind == "f":  # integer voxels are always finite
                data = np.asarray(img.dataobj)
                bad = int(data.size - np.count_nonzero(np.isfinite(data)))
            if bad:
                problems.append(f"{where}: image {img_path.name} has {bad} NaN/Inf voxels; expected finite values")
    for col in ("labels", "lesion"):
        p = resolve(df, row.get(col, ""))
        if p is None:
            continue
        img = _header(p, col, where, problems)
        if img is None:
            continue
        shape = tuple(int(s) for s in img.shape[:3])
        if grid is not None:
            if shape != grid[0]:
                problems.append(f"{where}: {col} {p.name} has shape {shape}; image has {grid[0]}")
            elif not np.allclose(img.affine, grid[1], atol=AFFINE_TOL_MM):
                diff = float(np.abs(img.affine - grid[1]).max())
                problems.append(f"{where}: {col} {p.name} affine differs from the image's "
                                f"(max |diff| {diff:.3g} mm)")
        data = np.asarray(img.dataobj)
        integral = data.dtype.kind in "iub" or bool(np.all(np.mod(data, 1) == 0))
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        if col == "lesion" and not (integral and lo >= 0 and hi <= 1):
            shown = ", ".join(f"{v:g}" for v in np.unique(data)[:6])
            problems.append(f"{where}: lesion mask {p.name} is not binary (values {shown}); expected 0/1")
        if col == "labels" and (lo < 0 or not integral):
            problems.append(f"{where}: label map {p.name} has negative or non-integer values; "
                            "expected FreeSurfer IDs")
    return grid


def _check_cases(df: pd.DataFrame) -> list[str]:
    problems = []
    for case, sub in df.groupby("case", sort=False):
        if not case:
            continue
        sessions = set(sub["session"])
        for need in ("BL", "FU"):
            if need not in sessions:
                problems.append(f"case {case}: no {need} image")
        for col in ("subject", "split"):
            vals = sorted(set(sub[col]))
            if len(vals) > 1:
                problems.append(f"case {case}: rows disagree on {col} ({', '.join(vals)})")
        scanners = dict(zip(sub["session"], sub["scanner"]))
        if "FU2" in scanners and "BL" in scanners and scanners["FU2"] != scanners["BL"]:
            problems.append(f"case {case}: FU2 scanner {scanners['FU2']!r} differs from BL scanner "
                            f"{scanners['BL']!r}; FU2 must be on the BL scanner")
    splits: dict[str, set[str]] = defaultdict(set)
    for subj, split in zip(df["subject"], df["split"]):
        if subj and split:
            splits[subj].add(split)
    for subj, s in splits.items():
        if len(s) > 1:
            problems.append(f"subject {subj} appears in {len(s)} splits ({', '.join(sorted(s))}); "
                            "splits must not share subjects")
    return problems


def _check_prepared(df: pd.DataFrame, grids: dict) -> list[str]:
    problems = []
    for i, row in enumerate(df.to_dict("records")):
        where = f"row {i + 2} (case {row['case']} {row['session']})"
        try:
            lo, hi = float(row["scale_lo"]), float(row["scale_hi"])
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                problems.append(f"{where}: scale_lo {row['scale_lo']} must be < scale_hi {row['scale_hi']}")
        except ValueError:
            problems.append(f"{where}: scale_lo/scale_hi ({row['scale_lo']!r}, {row['scale_hi']!r}) are not numbers")
        try:
            a, b = int(float(row["slice_start"])), int(float(row["slice_stop"]))
        except ValueError:
            problems.append(f"{where}: slice_start/slice_stop ({row['slice_start']!r}, {row['slice_stop']!r}) "
                            "are not integers")
            continue
        grid = grids.get((row["case"], row["session"]))
        if not 0 <= a < b or (grid is not None and b > max(grid[0])):
            problems.append(f"{where}: slice range [{a}, {b}) is empty or outside the image")
    for case, sub in df.groupby("case", sort=False):
        if sub[["slice_start", "slice_stop"]].drop_duplicates().shape[0] > 1:
            problems.append(f"case {case}: rows have different slice ranges; expected one per case")
        bl = grids.get((case, "BL"))
        for session in ("FU", "FU2"):
            g = grids.get((case, session))
            if bl is None or g is None:
                continue
            if g[0] != bl[0] or not np.allclose(g[1], bl[1], atol=AFFINE_TOL_MM):
                problems.append(f"case {case}: prepared {session} grid {g[0]} differs from BL grid {bl[0]}; "
                                "prepared images must share the BL grid")
    return problems
