"""``harmbench datasets build|validate|prepare``."""

from __future__ import annotations

from pathlib import Path

import click

from harmbench.console import problem, progress, say


@click.group()
def datasets() -> None:
    """Build, validate and prepare datasets (manifests of BL/FU/FU2 images)."""


@datasets.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: $HARMBENCH_DATA/NAME/seed-N/raw).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the preset's).")
@click.option("--force", is_flag=True, help="Build into a folder that holds another dataset (replacing it).")
def build(name: str, out: Path | None, seed: int | None, force: bool) -> None:
    """Generate the built-in dataset NAME (e.g. synth-quick): NIfTI files + manifest.csv."""
    from harmbench.resolve import build_dataset

    manifest = build_dataset(name, out, seed, force=force)
    say(f"manifest: {manifest}")


@datasets.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--deep", is_flag=True,
              help="Also read every voxel (NaN/Inf, float32 overflow, constant images, label and "
                   "lesion values); by default only NIfTI headers are read (shape, affine, type).")
def validate(manifest: Path, deep: bool) -> None:
    """Check MANIFEST; print one line per problem and exit 2 if there are any."""
    from harmbench.validate import validate_manifest

    with progress(transient=True) as prog:
        task = prog.add_task("validating", total=None)

        def cb(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        problems = validate_manifest(manifest, deep=deep, progress=cb)
    for p in problems:
        problem(p)
    if problems:
        raise SystemExit(2)
    say(f"{manifest}: OK" + ("" if deep else " (headers; --deep also checks voxel values)"))


@datasets.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: <manifest dir>/prepared).")
@click.option("--spacing", type=float, default=None, help="Isotropic voxel size in mm (default: keep BL's).")
@click.option("--force", is_flag=True,
              help="Prepare into a folder that holds another manifest's output (its stale cases are removed).")
def prepare(manifest: Path, out: Path | None, spacing: float | None, force: bool) -> None:
    """Resample, register FU/FU2 to BL, scale to [0, 1], pick axial slices."""
    from harmbench.preprocess import prepare_manifest

    with progress() as prog:
        task = prog.add_task("preparing", total=None)

        def cb(done: int, total: int, what: str) -> None:
            prog.update(task, completed=done, total=total, description=f"preparing {what}")

        path = prepare_manifest(manifest, out, spacing=spacing, progress=cb, force=force)
    say(f"prepared manifest: {path}")
