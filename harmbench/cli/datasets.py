"""``harmbench datasets build|validate|prepare``."""

from __future__ import annotations

from pathlib import Path

import click

from harmbench.console import console, err_console, progress


@click.group()
def datasets() -> None:
    """Build, validate and prepare datasets (manifests of BL/FU/FU2 images)."""


@datasets.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: $HARMBENCH_DATA/NAME/seed-N/raw).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the preset's).")
def build(name: str, out: Path | None, seed: int | None) -> None:
    """Generate the built-in dataset NAME (e.g. synth-quick): NIfTI files + manifest.csv."""
    from harmbench.resolve import build_dataset

    manifest = build_dataset(name, out, seed)
    console.print(f"manifest: {manifest}")


@datasets.command()
@click.argument("manifest", type=click.Path(path_type=Path))
def validate(manifest: Path) -> None:
    """Check MANIFEST; print one line per problem and exit 2 if there are any."""
    from harmbench.validate import validate_manifest

    problems = validate_manifest(manifest)
    for p in problems:
        err_console.print(f"[red]problem:[/] {p}", highlight=False, soft_wrap=True)
    if problems:
        raise SystemExit(2)
    console.print(f"{manifest}: OK")


@datasets.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: <manifest dir>/prepared).")
@click.option("--spacing", type=float, default=None, help="Isotropic voxel size in mm (default: keep BL's).")
def prepare(manifest: Path, out: Path | None, spacing: float | None) -> None:
    """Resample, register FU/FU2 to BL, scale to [0, 1], pick axial slices."""
    from harmbench.preprocess import prepare_manifest

    with progress() as prog:
        task = prog.add_task("preparing", total=None)

        def cb(done: int, total: int, what: str) -> None:
            prog.update(task, completed=done, total=total, description=f"preparing {what}")

        path = prepare_manifest(manifest, out, spacing=spacing, progress=cb)
    console.print(f"prepared manifest: {path}")
