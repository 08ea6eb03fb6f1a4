"""The ``runs.json`` record as written to disk: portable, with no absolute paths under the home folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _home_relative(path: str | Path) -> str:
    """``path`` with the user's home folder written as ``~`` (nothing personal in shared files)."""
    p, home = Path(path), Path.home()
    try:
        return str(Path("~") / p.relative_to(home))
    except ValueError:
        return str(p)


def portable_runs(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``runs.json`` form of the run record: no absolute paths under the user's home.

    Model folders and harmonized files are written relative to ``work_dir`` (the cache root), which
    itself and the manifest are written with the home folder as ``~``. ``resolve_run_path`` turns
    them back into paths.
    """
    work = Path(meta["work_dir"])

    def rel(path: str | None) -> str | None:
        if path is None:
            return None
        try:
            return str(Path(path).relative_to(work))
        except ValueError:
            return _home_relative(path)

    out = dict(meta)
    out["work_dir"] = _home_relative(work)
    out["dataset"] = {**meta["dataset"], "manifest": _home_relative(meta["dataset"]["manifest"])}
    out["runs"] = [{**r, "model_dir": rel(r.get("model_dir"))} for r in meta["runs"]]
    out["harmonized"] = {k: {n: rel(f) for n, f in files.items()} for k, files in meta["harmonized"].items()}
    out["paths"] = "model_dir and harmonized files are relative to work_dir; ~ is the user's home"
    return out


def resolve_run_path(runs: dict[str, Any], path: str) -> Path:
    """A path recorded in ``runs.json`` (relative to its ``work_dir``, or ``~``-prefixed) as a real path."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(runs["work_dir"]).expanduser() / p
