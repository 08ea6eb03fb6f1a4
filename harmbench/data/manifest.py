"""The dataset manifest: one CSV row per image, paths relative to the CSV.

Required columns: ``case, subject, session, scanner, vendor, split, image``.
Optional: ``labels, lesion, change, lesion_mm3`` (``lesion_mm3``: the true target-lesion volume
of that session's image in mm³, when known, e.g. a synthetic cohort's analytic volume; the
instrument checks measure against it instead of the mask's voxel count). A *prepared* manifest (written by
``harmbench datasets prepare``) adds ``scale_lo, scale_hi`` (the linear map that took the raw
intensities to [0, 1]) and ``slice_start, slice_stop`` (kept axial slices, half-open).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harmbench.errors import DataError
from harmbench.typing import PathLike

REQUIRED_COLUMNS = ("case", "subject", "session", "scanner", "vendor", "split", "image")
OPTIONAL_COLUMNS = ("labels", "lesion", "change", "lesion_mm3")
PREPARED_COLUMNS = ("scale_lo", "scale_hi", "slice_start", "slice_stop")
SESSIONS = ("BL", "FU", "FU2")
SPLITS = ("train", "val", "test-A", "test-B")
PATH_COLUMNS = ("image", "labels", "lesion")


def read_manifest(path: PathLike) -> pd.DataFrame:
    """Read a manifest CSV; raises ``DataError`` if it is unreadable or lacks required columns.

    Returns the table with string columns, empty optional cells as ``""`` and ``change`` as float.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"manifest not found: {p}")
    if p.is_dir():
        cand = p / "manifest.csv"
        if not cand.exists():
            raise DataError(f"{p} is a directory without manifest.csv")
        p = cand
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"cannot read manifest {p}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"manifest {p.name} lacks required column(s) {missing}; has {list(df.columns)}")
    for c in OPTIONAL_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    df.attrs["path"] = str(p.resolve())
    return df


def resolve(df: pd.DataFrame, value: str) -> Path | None:
    """Absolute path of a manifest path cell (relative to the manifest), or None when empty."""
    if not value:
        return None
    base = Path(df.attrs.get("path", ".")).parent
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def is_prepared(df: pd.DataFrame) -> bool:
    return all(c in df.columns for c in PREPARED_COLUMNS)


def missing_prepared_columns(df: pd.DataFrame) -> list[str]:
    """Prepared columns a partly prepared manifest lacks (``[]`` when it has all four or none)."""
    missing = [c for c in PREPARED_COLUMNS if c not in df.columns]
    return missing if len(missing) < len(PREPARED_COLUMNS) else []
