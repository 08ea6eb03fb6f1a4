"""Refuse to build or prepare into a folder that holds another dataset's files.

A built dataset folder is owned by the ``dataset.json`` its build wrote (``name``, ``seed``);
a prepared folder by the ``dataset.json`` of :func:`~harmbench.preprocess.prepare_manifest`
(``prepared: true``, ``source_manifest``). Writing another dataset there would replace its
``manifest.csv`` and leave its case files behind, so these checks raise one-line
:class:`~harmbench.errors.DataError` instead, unless the caller passes ``force``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from harmbench.errors import DataError
from harmbench.typing import PathLike

HINT = "use another --out, or --force to replace it"


def _meta(folder: Path) -> dict | None:
    """``dataset.json`` of ``folder``; None if absent, ``{}`` if unreadable."""
    f = folder / "dataset.json"
    if not f.exists():
        return None
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def check_prepared_folder(out_dir: PathLike, source_manifest: PathLike, *, force: bool = False) -> None:
    """Raise unless ``out_dir`` is free for preparing ``source_manifest``.

    Free: absent, holding no ``manifest.csv``/``dataset.json``, or holding the prepared output
    of this same manifest (a rerun, which the preparation cache handles).

    Raises:
        DataError: ``out_dir`` holds another manifest's prepared output, a raw (unprepared)
            dataset, or a ``manifest.csv`` harmbench did not prepare; unless ``force``.
    """
    out, src = Path(out_dir), Path(source_manifest)
    if force or not out.is_dir():
        return
    meta = _meta(out)
    if meta is None:
        if (out / "manifest.csv").exists():
            raise DataError(f"{out} holds a manifest.csv that 'harmbench datasets prepare' did not write; {HINT}")
        return
    if meta.get("prepared") is not True:
        raise DataError(f"{out} holds the raw dataset {meta.get('name', '?')!s}, not a prepared one; {HINT}")
    recorded = meta.get("source_manifest")
    if recorded and not _same_file(Path(recorded), src):
        raise DataError(f"{out} holds the prepared output of {recorded}, not of {src.resolve()}; {HINT}")


def _same_file(recorded: Path, src: Path) -> bool:
    if recorded.resolve() == src.resolve():
        return True
    # the data moved (recorded path gone): the same manifest if the name matches
    return not recorded.exists() and recorded.name == src.name


def check_dataset_folder(out_dir: PathLike, preset_name: str, seed: int | None = None, *,
                         force: bool = False) -> None:
    """Raise unless ``out_dir`` is free for building dataset ``preset_name`` with ``seed``.

    Free: absent, without ``dataset.json``, or with one recording this name (and this seed,
    where both are known). With ``force`` a conflicting folder is released instead: its
    ``dataset.json`` and ``manifest.csv`` (which say whose folder it is) are deleted so the build
    that follows rewrites them and never returns the other dataset's manifest.

    Raises:
        DataError: ``out_dir`` holds another dataset, another seed of it or a prepared dataset.
    """
    out = Path(out_dir)
    meta = _meta(out) if out.is_dir() else None
    if meta is None:
        return
    problem = None
    if meta.get("prepared") is True:
        problem = f"{out} holds a prepared dataset ({meta.get('name', '?')}), not a build of {preset_name}"
    elif meta.get("name") != preset_name:
        problem = f"{out} holds dataset {meta.get('name', '?')}, not {preset_name}"
    elif seed is not None and meta.get("seed") is not None and int(meta["seed"]) != int(seed):
        problem = f"{out} holds {preset_name} with seed {meta['seed']}, not seed {seed}"
    if problem is None:
        return
    if not force:
        raise DataError(f"{problem}; {HINT}")
    for name in ("dataset.json", "manifest.csv"):
        (out / name).unlink(missing_ok=True)


def remove_stale_cases(out_dir: PathLike, keep: Iterable[str]) -> list[Path]:
    """Delete case folders under ``out_dir/cases`` that the new manifest no longer names.

    Args:
        out_dir: a prepared (or built) folder.
        keep: the case folders the new manifest uses, relative to ``out_dir`` (``cases/<id>``).

    Returns:
        The folders removed.
    """
    out = Path(out_dir)
    cases = out / "cases"
    if not cases.is_dir():
        return []
    kept = {(out / k).resolve() for k in keep}
    removed = []
    for d in sorted(cases.iterdir()):
        if d.is_dir() and not d.is_symlink() and d.resolve() not in kept:
            shutil.rmtree(d)
            removed.append(d)
    return removed
