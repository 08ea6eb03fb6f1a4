"""``harmbench datasets build|validate|prepare|from-bids``."""

from __future__ import annotations

from pathlib import Path

import click

from harmbench.console import problem, progress, say


@click.group()
def datasets() -> None:
    """Build, import (BIDS), validate and prepare datasets (manifests of BL/FU/FU2 images)."""


@datasets.command()
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: $HARMBENCH_DATA/NAME/seed-N/raw).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the preset's).")
@click.option("--force", is_flag=True, help="Build into a folder that holds another dataset (replacing it).")
def build(name: str, out: Path | None, seed: int | None, force: bool) -> None:
    """Generate the built-in dataset NAME (e.g. synth-quick): NIfTI files + manifest.csv."""
    from harmbench.data.resolve import build_dataset

    manifest = build_dataset(name, out, seed, force=force)
    say(f"manifest: {manifest}")


@datasets.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--deep", is_flag=True,
              help="Also read every voxel (NaN/Inf, float32 overflow, constant images, label and "
                   "lesion values); by default only NIfTI headers are read (shape, affine, type).")
def validate(manifest: Path, deep: bool) -> None:
    """Check MANIFEST; print one line per problem and exit 2 if there are any."""
    from harmbench.data.validate import validate_manifest

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


@datasets.command("from-bids")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Manifest CSV to write (image paths relative to its folder).")
@click.option("--suffix", default="T1w", show_default=True, help="BIDS suffix of the anatomical image.")
@click.option("--ce", default="gadolinium", show_default=True,
              help="ce- entity (contrast agent); 'none' = images without ce-, 'any' = either.")
@click.option("--acq", default="any", show_default=True, help="acq- entity: a label, 'none' or 'any'.")
@click.option("--rec", default="any", show_default=True, help="rec- entity: a label, 'none' or 'any'.")
@click.option("--run", "run_", default="any", show_default=True,
              help="run- entity: a number, 'none' or 'any'.")
@click.option("--bl-session", default=None,
              help="Session label to use as BL (default: each subject's earliest session).")
@click.option("--session-order", type=click.Choice(["acq_time", "label"]), default="acq_time",
              show_default=True, help="Order sessions by acq_time (sessions.tsv, scans.tsv) or by label.")
@click.option("--labels", default="auto", show_default=True,
              help="Label maps (*_dseg) from derivatives/: 'auto' (any pipeline), a pipeline folder "
                   "name (e.g. synthseg), or 'none'.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the per-subject split draw.")
@click.option("--split-fractions", default="0.6,0.1,0.3", show_default=True,
              help="train,val,test fractions of the subjects (test subjects go to test-A).")
@click.option("--splits", "splits_tsv", type=click.Path(path_type=Path), default=None,
              help="TSV with participant_id and split (train, val, test-A, test-B) overriding the draw.")
@click.option("--force", is_flag=True, help="Replace an existing, different --out file.")
def from_bids(root: Path, out: Path, suffix: str, ce: str, acq: str, rec: str, run_: str,
              bl_session: str | None, session_order: str, labels: str, seed: int, split_fractions: str,
              splits_tsv: Path | None, force: bool) -> None:
    """Write a manifest for the BIDS dataset ROOT: one BL/FU(/FU2) case per subject."""
    from harmbench.data.bids import ImageQuery, import_bids, write_manifest
    from harmbench.console import info
    from harmbench.errors import OptionError
    from harmbench.data.validate import validate_manifest

    try:
        fractions = tuple(float(f) for f in split_fractions.split(","))
    except ValueError:
        fractions = ()
    if len(fractions) != 3:
        raise OptionError(f"--split-fractions {split_fractions!r}; expected three numbers train,val,test "
                          "such as 0.6,0.1,0.3")
    query = ImageQuery(suffix=suffix, ce=ce, acq=acq, rec=rec, run=run_)
    res = import_bids(root, out, query=query, bl_session=bl_session, session_order=session_order,
                      labels=labels, seed=seed, fractions=fractions, splits_tsv=splits_tsv)
    for sub, why in res.skipped.items():
        info(("skipped", "yellow"), f" {sub}: {why}")
    write_manifest(res, out, force=force)
    t = res.table
    counts = t.drop_duplicates("case")["split"].value_counts()
    split_text = ", ".join(f"{s} {counts[s]}" for s in ("train", "val", "test-A", "test-B") if s in counts)
    say(f"manifest: {out} ({t['case'].nunique()} case(s): {split_text}; "
        f"{int((t['session'] == 'FU2').sum())} with FU2, {int((t['labels'] != '').sum())} label maps; "
        f"{res.unused_sessions} session(s) not used, {len(res.skipped)} subject(s) skipped)")
    problems = validate_manifest(out, deep=False)
    for p in problems:
        problem(p)
    if problems:
        raise SystemExit(2)
