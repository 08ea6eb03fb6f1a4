"""Turn ``--dataset NAME|MANIFEST`` into a prepared manifest, building/preparing if absent."""

from __future__ import annotations

import json
from pathlib import Path

from harmbench import registry
from harmbench.console import info
from harmbench.data.datasets import data_root
from harmbench.errors import DataError
from harmbench.data.manifest import PREPARED_COLUMNS, is_prepared, missing_prepared_columns, read_manifest


def build_dataset(name: str, out: Path | None = None, seed: int | None = None, *, force: bool = False) -> Path:
    """Build a registered dataset (if its manifest is absent) and return the raw manifest path.

    Raises:
        DataError: ``out`` holds another dataset (or another seed of it); unless ``force``.
    """
    from harmbench.preprocess.guard import check_dataset_folder

    spec = registry.get_dataset(name)
    seed = spec.default_seed if seed is None else seed
    out = out or data_root() / name / f"seed-{seed}" / "raw"
    check_dataset_folder(out, name, seed, force=force)
    manifest = out / "manifest.csv"
    if manifest.exists():
        built = _built_by(out)
        if not spec.generator or built == spec.generator:
            return manifest
        info(f"{out} was built by {built or 'an unknown generator'}; rebuilding with {spec.generator}")
        for stale in ("dataset.json", "manifest.csv"):
            (out / stale).unlink(missing_ok=True)
    info(f"building dataset {name} (seed {seed}) into {out} ...")
    out.mkdir(parents=True, exist_ok=True)
    return Path(spec.build(out, seed))


def _built_by(folder: Path) -> str:
    """The ``generator`` recorded in a built dataset's ``dataset.json`` ("" if none)."""
    try:
        return str(json.loads((folder / "dataset.json").read_text()).get("generator", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def is_manifest_path(dataset: str) -> bool:
    """True when ``--dataset`` names a manifest (a ``.csv`` or an existing path), not a registered dataset."""
    path = Path(dataset)
    return path.suffix.lower() == ".csv" or path.exists()


def prepared_manifest(dataset: str, seed: int | None = None) -> Path:
    """Prepared manifest for a dataset name or a manifest path (built/prepared on demand).

    Raises:
        DataError: the manifest fails validation, or has some but not all of the prepared
            columns (it would otherwise be prepared again, silently, as if it were raw).
    """
    path = Path(dataset)
    if is_manifest_path(dataset):
        df = read_manifest(path)
        from harmbench.data.validate import validate_manifest

        problems = validate_manifest(Path(df.attrs["path"]))
        if problems:
            raise DataError(f"{path} has {len(problems)} problem(s), first: {problems[0]} "
                            f"(see all with: harmbench datasets validate {path})")
        missing = missing_prepared_columns(df)
        if missing:
            raise DataError(f"{path} has prepared columns but lacks {missing}; add them, or drop all of "
                            f"{list(PREPARED_COLUMNS)} to prepare the raw images again")
        if is_prepared(df):
            return Path(df.attrs["path"])
        from harmbench.preprocess import prepare_manifest

        return Path(prepare_manifest(Path(df.attrs["path"])))
    if dataset not in registry.datasets():
        registry.get_dataset(dataset)  # raises with suggestions
    spec = registry.get_dataset(dataset)
    raw = build_dataset(dataset, seed=seed)
    from harmbench.preprocess import prepare_manifest

    prep = prepare_manifest(raw, raw.parent.parent / "prepared", **(spec.prepare or {}))
    if not Path(prep).exists():
        raise DataError(f"preparing {dataset} produced no manifest at {prep}")
    return Path(prep)
