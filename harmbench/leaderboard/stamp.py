"""Skip re-rendering a leaderboard whose inputs have not changed (a fully cached ``harmbench evaluate``).

The stamp is a SHA-256 over everything the rendering reads: ``results.csv``, ``runs.json`` without
the fields that only time the run (:data:`VOLATILE`), the harmonized images the montages show
(content-addressed work-dir paths), the metric directions the registry declares, and the source of
the ``harmbench`` package (so any code change re-renders). It is stored with the list of files the
rendering wrote in ``.render.json``; the rendering is reused only when the stamp matches and every
one of those files still exists.

``report.html`` then keeps the stage timings of the run that rendered it; ``runs.json`` has the
rerun's (seconds).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from harmbench.io import write_json_atomic

STAMP_FILE = ".render.json"
#: runs.json fields that time the run rather than describe its results
VOLATILE = ("timings", "metric_seconds_per_case")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of the harmbench package's Python sources and report templates."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".html", ".css", ".js", ".j2") and p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def render_stamp(out: Path, harmonized: dict | None, manifest: str | None) -> str:
    """The stamp of rendering ``out`` now (module docstring)."""
    from harmbench.leaderboard.summary import _declared_directions

    h = hashlib.sha256()
    h.update((out / "results.csv").read_bytes())
    runs = out / "runs.json"
    meta: Any = json.loads(runs.read_text()) if runs.exists() else {}
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in VOLATILE}
    images = sorted((repr(k), json.dumps(v, sort_keys=True, default=str)) for k, v in (harmonized or {}).items())
    extra = {"runs": meta, "harmonized": images, "manifest": manifest, "directions": _declared_directions(),
             "source": source_digest()}
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


def reusable(out: Path, stamp: str) -> list[Path] | None:
    """The files of the previous rendering of ``out`` if its stamp equals ``stamp`` and all exist."""
    try:
        record = json.loads((out / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("stamp") != stamp:
        return None
    files = [out / name for name in record.get("written", [])]
    return files if files and all(f.is_file() for f in files) else None


def save(out: Path, stamp: str, written: list[Path]) -> None:
    """Record ``stamp`` and the files written (relative to ``out``)."""
    names = [str(Path(p).resolve().relative_to(out.resolve())) for p in written]
    write_json_atomic(out / STAMP_FILE, {"stamp": stamp, "written": names})
