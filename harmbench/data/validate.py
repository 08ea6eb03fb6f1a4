"""Manifest validation: every problem of a dataset manifest as one line.

``harmbench datasets validate MANIFEST`` prints these lines and exits 2 if there are any.
Row numbers are CSV line numbers (the header is line 1).

By default only NIfTI headers are read (about 1 kB per file, so a 100k-row manifest takes
seconds); ``deep=True`` (``--deep``) also reads every voxel. Each file is read once per call,
however many rows name it.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import F32_MAX, float32_overflow, load_nifti
from harmbench.data.manifest import PREPARED_COLUMNS, REQUIRED_COLUMNS, SESSIONS, SPLITS, read_manifest, resolve
from harmbench.typing import PathLike

AFFINE_TOL_MM = 1e-3
#: compressed bytes read for a header: a NIfTI header (348 or 540 bytes) deflates to far less
_HEAD_BYTES = 4096
_REPORT_EVERY = 1000

Progress = Callable[[int, int], None]


def validate_manifest(path: PathLike, *, deep: bool = True, progress: Progress | None = None) -> list[str]:
    """Check a manifest and the files it names.

    Checks: readable CSV with the required columns and at least one row; no empty required
    cells; known ``session`` and ``split`` values; no duplicate (case, session); every case has
    BL and FU and one subject and split; FU2 on the BL scanner; no subject in two splits;
    ``change`` is a number > -1; every named file exists and is a 3-D NIfTI of real-valued
    voxels; ``labels``/``lesion`` match their image's shape and affine. Prepared manifests need
    all four prepared columns, numeric ``scale_lo < scale_hi``, a valid ``slice_start <
    slice_stop`` shared by the case, and FU/FU2 on the BL grid.

    With ``deep``, voxel values too: images are finite, fit float32 (harmbench reads intensities
    as float32) and are not constant; label maps are integer-valued and non-negative; lesion
    masks are binary.

    Args:
        path: manifest CSV (or a folder containing ``manifest.csv``).
        deep: read every voxel (slow: decompresses every image) instead of headers only.
        progress: optional ``progress(rows_done, rows_total)`` callback.

    Returns:
        One-line problem descriptions; an empty list means the manifest is valid.
    """
    try:
        df = read_manifest(path)
    except DataError as exc:
        return [str(exc)]
    name = Path(df.attrs["path"]).name
    if df.empty:
        return [f"manifest {name} has no rows (only a header); expected one row per image"]
    problems: list[str] = []
    present = [c for c in PREPARED_COLUMNS if c in df.columns]
    missing = [c for c in PREPARED_COLUMNS if c not in df.columns]
    if present and missing:
        problems.append(f"manifest {name} has prepared column(s) {present} but lacks {missing}; a prepared "
                        f"manifest needs all of {list(PREPARED_COLUMNS)} (prepare it again, or drop them)")
    files = _Files(df, deep)
    records = df.to_dict("records")
    grids: dict[tuple[str, str], tuple[tuple[int, ...], np.ndarray]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(records):
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
        problems.extend(_check_volume(where, row.get("lesion_mm3", "")))
        grid = _check_files(files, row, where, problems)
        if grid is not None:
            grids[key] = grid
        if progress is not None and (i + 1) % _REPORT_EVERY == 0:
            progress(i + 1, len(records))
    if progress is not None:
        progress(len(records), len(records))
    problems.extend(_check_cases(records))
    if not missing:
        problems.extend(_check_prepared(records, grids))
    return problems


def _check_number(where: str, column: str, value: str, ok, rule: str) -> list[str]:
    """Problems of an optional numeric cell: not a number, or failing ``ok`` (``rule`` says how)."""
    if value in ("", None):
        return []
    try:
        v = float(value)
    except ValueError:
        return [f"{where}: {column} {value!r} is not a number"]
    if not math.isfinite(v) or not ok(v):
        return [f"{where}: {column} {value!r} must be {rule}"]
    return []


def _check_change(where: str, value: str) -> list[str]:
    return _check_number(where, "change", value, lambda v: v > -1.0, "a finite relative change > -1")


def _check_volume(where: str, value: str) -> list[str]:
    return _check_number(where, "lesion_mm3", value, lambda v: v >= 0.0, "a finite volume >= 0")


@dataclass(frozen=True)
class _Header:
    shape: tuple[int, ...]  # 3-D (a trailing singleton 4th axis is dropped)
    affine: np.ndarray
    dtype: np.dtype


@dataclass(frozen=True)
class _Voxels:
    """What the deep checks need of one file's voxels (finite values only for lo/hi/integral)."""

    nonfinite: int
    overflow: int  # finite voxels beyond the float32 range
    peak: float  # largest overflowing |value|
    lo: float
    hi: float
    integral: bool


class _Files:
    """Header and voxel summaries of the files a manifest names, each read at most once."""

    def __init__(self, df: pd.DataFrame, deep: bool) -> None:
        self.deep = deep
        self._df = df
        self._paths: dict[str, Path | None] = {}
        self._headers: dict[str, _Header | str] = {}
        self._voxels: dict[str, _Voxels | str] = {}

    def path(self, cell: str) -> Path | None:
        """The file a manifest cell names (None for an empty cell)."""
        if cell not in self._paths:
            self._paths[cell] = resolve(self._df, cell)
        return self._paths[cell]

    def header(self, path: Path) -> _Header | str:
        """The file's header, or why it is unusable (a problem without the row prefix)."""
        key = str(path)
        if key not in self._headers:
            self._headers[key] = _open_header(path)
        return self._headers[key]

    def voxels(self, path: Path) -> _Voxels | str:
        """The file's voxel summary, or why its voxels cannot be read (e.g. a truncated file)."""
        key = str(path)
        if key not in self._voxels:
            try:
                self._voxels[key] = _summarise(self._read(path))
            except Exception as exc:  # noqa: BLE001 - nibabel/zlib/OS errors for damaged files
                self._voxels[key] = (f"cannot read the voxels of {path.name} ({type(exc).__name__}); "
                                     "damaged or truncated?")
        return self._voxels[key]

    def distinct(self, path: Path, n: int = 6) -> tuple[float, ...]:
        """The first ``n`` distinct finite values (read again: only wanted to explain a problem)."""
        data = self._read(path)
        return tuple(float(v) for v in np.unique(data[np.isfinite(data)])[:n])

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        return np.asarray(load_nifti(path).dataobj)


def _open_header(path: Path) -> _Header | str:
    if not path.exists():
        return f"file not found: {path}"
    fields = _fast_header(path)
    if fields is None:  # unusual file: let nibabel open it and explain any failure
        try:
            hdr = load_nifti(path).header
        except DataError as exc:
            return f"{path.name}: {exc}"
        fields = hdr.get_data_shape(), hdr.get_best_affine(), hdr.get_data_dtype()
    shape, affine, dtype = tuple(int(s) for s in fields[0]), np.asarray(fields[1]), fields[2]
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        return f"{path.name} has shape {shape}; expected 3-D"
    if dtype.kind not in "biuf":
        return f"{path.name} has voxel type {dtype}; expected real-valued scalar voxels"
    return _Header(shape, affine, dtype)


def _fast_header(path: Path) -> tuple | None:
    """(shape, affine, dtype) of a single-file NIfTI-1/2 from its first bytes; None if anything is unusual.

    About 20x faster than ``nibabel.load``: no file-map machinery and no header repair pass.
    """
    if not path.name.endswith((".nii", ".nii.gz")):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
        if head[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 540)
        for size, magic_at, magic, cls in ((348, 344, b"n+1\0", nib.Nifti1Header),
                                           (540, 4, b"n+2\0", nib.Nifti2Header)):
            if len(head) >= size and head[magic_at:magic_at + 4] == magic and size in (
                    int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big")):
                hdr = cls(head[:size], check=False)
                return hdr.get_data_shape(), hdr.get_best_affine(), hdr.get_data_dtype()
    except Exception:  # noqa: BLE001 - any oddity: the slow path reports it properly
        return None
    return None


def _summarise(data: np.ndarray) -> _Voxels:
    with np.errstate(all="ignore"):  # inf/NaN and huge float64 values are counted, not warned about
        finite_mask = np.isfinite(data) if data.dtype.kind == "f" else None
        nonfinite = 0 if finite_mask is None else int(data.size - np.count_nonzero(finite_mask))
        finite = data[finite_mask] if nonfinite else data.ravel()
        overflow, peak = float32_overflow(finite)
        if not finite.size:
            return _Voxels(nonfinite, 0, 0.0, math.nan, math.nan, True)
        lo, hi = float(finite.min()), float(finite.max())
        integral = finite.dtype.kind in "iub" or bool(np.all(np.mod(finite, 1) == 0))
    return _Voxels(nonfinite, overflow, peak, lo, hi, integral)


def _check_files(files: _Files, row: dict, where: str, problems: list[str]):
    """File checks of one row; returns the image's (shape, affine) if it is readable."""
    grid = None
    img_path = files.path(row["image"])
    if img_path is not None:
        hdr = files.header(img_path)
        if isinstance(hdr, str):
            problems.append(f"{where}: image {hdr}")
        else:
            grid = (hdr.shape, hdr.affine)
            if files.deep:
                problems.extend(f"{where}: {p}" for p in _image_values(files, img_path))
    for col in ("labels", "lesion"):
        p = files.path(row.get(col, ""))
        if p is None:
            continue
        hdr = files.header(p)
        if isinstance(hdr, str):
            problems.append(f"{where}: {col} {hdr}")
            continue
        if grid is not None:
            if hdr.shape != grid[0]:
                problems.append(f"{where}: {col} {p.name} has shape {hdr.shape}; image has {grid[0]}")
            elif not _same_affine(hdr.affine, grid[1]):
                diff = float(np.abs(hdr.affine - grid[1]).max())
                problems.append(f"{where}: {col} {p.name} affine differs from the image's "
                                f"(max |diff| {diff:.3g} mm)")
        if files.deep:
            problems.extend(f"{where}: {msg}" for msg in _mask_values(files, col, p))
    return grid


def _same_affine(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.allclose(a, b, atol=AFFINE_TOL_MM)`` without its per-call overhead (called per row)."""
    return bool((np.abs(a - b) <= AFFINE_TOL_MM + 1e-5 * np.abs(b)).all())


def _image_values(files: _Files, path: Path) -> list[str]:
    v, name = files.voxels(path), path.name
    if isinstance(v, str):
        return [f"image {v}"]
    out = []
    if v.nonfinite:
        out.append(f"image {name} has {v.nonfinite} NaN/Inf voxels; expected finite values")
    if v.overflow:
        out.append(f"image {name} has {v.overflow} voxel(s) beyond the float32 range (|value| up to "
                   f"{v.peak:.3g}; float32 max {F32_MAX:.3g}); rescale the image")
    if not v.nonfinite and v.lo == v.hi:
        out.append(f"image {name} is constant (every voxel is {v.lo:g}); expected an image with contrast")
    return out


def _mask_values(files: _Files, col: str, path: Path) -> list[str]:
    v, name = files.voxels(path), path.name
    if isinstance(v, str):
        return [f"{col} {v}"]
    if v.nonfinite:
        return [f"{col} {name} has {v.nonfinite} NaN/Inf voxels; expected integer values"]
    if col == "lesion" and not (v.integral and v.lo >= 0 and v.hi <= 1):
        shown = ", ".join(f"{x:g}" for x in files.distinct(path))
        return [f"lesion mask {name} is not binary (values {shown}); expected 0/1"]
    if col == "labels" and (v.lo < 0 or not v.integral):
        return [f"label map {name} has negative or non-integer values; expected FreeSurfer IDs"]
    return []


def _by_case(records: list[dict]) -> dict[str, list[dict]]:
    cases: dict[str, list[dict]] = {}
    for row in records:
        cases.setdefault(row["case"], []).append(row)
    return cases


def _check_cases(records: list[dict]) -> list[str]:
    problems = []
    for case, rows in _by_case(records).items():
        if not case:
            continue
        sessions = {r["session"] for r in rows}
        for need in ("BL", "FU"):
            if need not in sessions:
                problems.append(f"case {case}: no {need} image")
        for col in ("subject", "split"):
            vals = sorted({r[col] for r in rows})
            if len(vals) > 1:
                problems.append(f"case {case}: rows disagree on {col} ({', '.join(vals)})")
        scanners = {r["session"]: r["scanner"] for r in rows}
        if "FU2" in scanners and "BL" in scanners and scanners["FU2"] != scanners["BL"]:
            problems.append(f"case {case}: FU2 scanner {scanners['FU2']!r} differs from BL scanner "
                            f"{scanners['BL']!r}; FU2 must be on the BL scanner")
    splits: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r["subject"] and r["split"]:
            splits[r["subject"]].add(r["split"])
    for subj, s in splits.items():
        if len(s) > 1:
            problems.append(f"subject {subj} appears in {len(s)} splits ({', '.join(sorted(s))}); "
                            "splits must not share subjects")
    return problems


def _check_prepared(records: list[dict], grids: dict) -> list[str]:
    problems = []
    for i, row in enumerate(records):
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
    for case, rows in _by_case(records).items():
        if len({(r["slice_start"], r["slice_stop"]) for r in rows}) > 1:
            problems.append(f"case {case}: rows have different slice ranges; expected one per case")
        bl = grids.get((case, "BL"))
        for session in ("FU", "FU2"):
            g = grids.get((case, session))
            if bl is None or g is None:
                continue
            if g[0] != bl[0] or not _same_affine(g[1], bl[1]):
                problems.append(f"case {case}: prepared {session} grid {g[0]} differs from BL grid {bl[0]}; "
                                "prepared images must share the BL grid")
    return problems
