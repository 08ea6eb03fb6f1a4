"""Entry point: ``harmbench`` and its top-level commands."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from harmbench import __version__, registry
from harmbench.cli.base import HarmbenchGroup
from harmbench.console import cell, console, info, line, say, warn

SPACE_CHOICES = ("bl", "bl-native", "fu")  # harmbench.harmonize_file.SPACES (not imported: SimpleITK is slow)
UNITS = {"reference": "BL units", "bl-typical": "typical BL-scanner units from the model", "fu": "FU units"}


@click.group(cls=HarmbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harmbench")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """harmbench: benchmark MRI harmonization methods on longitudinal BL/FU scanner pairs."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command("list")
@click.argument("what", type=click.Choice(["methods", "datasets", "metrics"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(what: str, as_json: bool) -> None:
    """List registered methods, datasets or metrics (from all plugins)."""
    table = {"methods": registry.methods, "datasets": registry.datasets, "metrics": registry.metrics}[what]()
    rows = []
    for name, reg in table.items():
        obj = reg.obj
        row = {"name": name, "plugin": reg.source}
        if what == "methods":
            row["capabilities"] = obj.capabilities.as_dict()
            row["params"] = {k: repr(v) for k, v in obj.param_defaults().items()}
            row["presets"] = sorted(getattr(obj, "presets", {}) or {})
            row["description"] = (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""
        elif what == "datasets":
            row["description"] = obj.description
            row["info"] = obj.info
        else:
            row["kind"] = obj.kind
            row["description"] = obj.description or ((type(obj).__doc__ or "").strip().splitlines() or [""])[0]
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    t = Table(title=f"harmbench {what}")
    t.add_column("name", style="bold")
    t.add_column("plugin")
    t.add_column("kind" if what == "metrics" else "details")
    t.add_column("description")
    for r in rows:
        if what == "methods":
            caps = r["capabilities"]
            det = ", ".join(k for k in ("needs_training", "needs_paired", "needs_reference",
                                         "needs_template_space", "has_inverse", "supports_gpu") if caps[k])
        elif what == "metrics":
            det = r["kind"]
        else:
            det = ", ".join(f"{k}={v}" for k, v in r["info"].items())
        t.add_row(cell(r["name"]), cell(r["plugin"]), cell(det), cell(r["description"]))
    console.print(t)


@cli.command()
@click.argument("method")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path),
              help="Manifest (CSV) or dataset folder to fit on; a raw one is prepared first.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--preset", default=None, help="Parameter preset (e.g. quick, paper) for methods that have one.")
@click.option("--device", default=None, help="auto, cpu, cuda[:N] or mps.")
@click.option("--force", is_flag=True,
              help="Write into --out even if it holds another method's model or other files.")
def fit(method: str, data: Path, out: Path, preset: str | None, device: str | None, force: bool) -> None:
    """Fit METHOD (a run spec such as 'nyul[n_landmarks=11]') on a manifest's training split.

    The model directory records the preprocessing of the data (preprocessing.json), which
    'harmbench harmonize' applies to raw scans.
    """
    from harmbench.artifacts import require_model_target
    from harmbench.data.cohort import Cohort
    from harmbench.preprocess.settings import record_for_cohort, write_preprocessing
    from harmbench.data.resolve import prepared_manifest

    m = registry.build_run(method, preset=preset, device=device)  # bad parameters fail before reading data
    require_model_target(out, m.name, force=force)  # before fitting: never fit only to fail on save
    cohort = Cohort.from_manifest(prepared_manifest(str(data)))
    info(f"fitting {m.name} on {len(cohort.train)} training cases ...")
    m.fit(cohort)
    m.save(out)
    write_preprocessing(record_for_cohort(cohort), out)
    say(f"saved {m.name} model to {out}")


@cli.command()
@click.argument("method")
@click.option("--model", type=click.Path(path_type=Path), default=None, help="Model directory from 'fit'.")
@click.option("--input", "input_", type=click.Path(path_type=Path),
              help="Raw FU image (NIfTI), any grid.")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="The patient's raw BL image, any grid: FU is registered to it and the result is "
                   "written in its intensity units.")
@click.option("--output", type=click.Path(path_type=Path), help="Output NIfTI path (with --input).")
@click.option("--manifest", type=click.Path(path_type=Path), default=None,
              help="Raw manifest: harmonize every FU and FU2 with its case's BL as reference.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder (with --manifest): images, manifest.csv, harmonize.json.")
@click.option("--space", type=click.Choice(SPACE_CHOICES), default=None,
              help="Output grid: bl = BL's field of view at the model's spacing (the benchmark's grid; "
                   "default with a reference), bl-native = the BL file's grid, fu = the FU file's grid "
                   "(default without a reference).")
@click.option("--scanner", default=None, help="The FU's scanner (with --input), checked against the "
                                               "scanners the model was fitted on.")
@click.option("--force", is_flag=True, help="Write into an --out that holds other files.")
def harmonize(method: str, model: Path | None, input_: Path | None, reference: Path | None,
              output: Path | None, manifest: Path | None, out_dir: Path | None, space: str | None,
              scanner: str | None, force: bool) -> None:
    """Harmonize raw FU images into BL-scanner style (and units) with METHOD.

    One file: --input FU [--reference BL] --output OUT. A cohort: --manifest M --out DIR (every
    FU and FU2; resumes, and a failing case does not stop the others). The model's recorded
    preprocessing is applied first: BL resampled to its spacing, FU registered to BL, [0, 1] scaling.
    """
    from harmbench.errors import OptionError

    if (input_ is None) == (manifest is None):
        raise OptionError("give either --input (one file) or --manifest (a cohort)")
    if manifest is not None:
        if input_ or output or reference or scanner:
            raise OptionError("--manifest takes --out, not --input/--output/--reference/--scanner")
        if out_dir is None:
            raise OptionError("--manifest needs --out DIR")
        from harmbench.harmonize_batch import harmonize_manifest

        res = harmonize_manifest(method, model=model, manifest=manifest, out=out_dir, space=space,
                                 force=force)
        for note in res.notes:
            warn(note)
        for f in res.failures:
            warn(f"{f['case']} {f['session']} failed: {f['error']}")
        say(f"harmonized {res.done} image(s) ({res.cached} already done), {len(res.failures)} failed; "
            f"wrote {res.manifest}")
        if res.failures:
            raise SystemExit(1)
        return
    if output is None or out_dir is not None:
        raise OptionError("--input needs --output FILE (--out is for --manifest)")
    from harmbench.harmonize_file import harmonize_file

    res = harmonize_file(method, model=model, input_path=input_, reference=reference, output=output,
                         space=space, scanner=scanner)
    for note in res.notes:
        warn(note)
    say(f"wrote {output} ({res.space} grid, {UNITS[res.units]})")


@cli.command("check-plugin")
@click.argument("method")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_plugin(method: str, as_json: bool) -> None:
    """Run the conformance kit on METHOD (fits it on a tiny generated phantom cohort)."""
    from harmbench.testing import run_checks

    presets = getattr(type(registry.build_run(method)), "presets", {}) or {}

    def factory():
        return registry.build_run(method, preset="tiny" if "tiny" in presets else None)

    results = run_checks(factory)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        t = Table(title=cell(f"conformance: {method}", "table.title"))
        t.add_column("check")
        t.add_column("result")
        for r in results:
            result = cell("pass", "green") if r.passed else line(("FAIL", "red"), f" {r.message}")
            t.add_row(cell(r.name), result)
        console.print(t)
    if not all(r.passed for r in results):
        raise SystemExit(1)


def _register_subcommands() -> None:
    from harmbench.cli.datasets import datasets
    from harmbench.cli.evaluate import evaluate, leaderboard

    cli.add_command(datasets)
    cli.add_command(evaluate)
    cli.add_command(leaderboard)


_register_subcommands()


if __name__ == "__main__":  # python -m harmbench.cli.main
    cli()
