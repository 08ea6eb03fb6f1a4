"""Entry point: ``harmbench`` and its top-level commands."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from harmbench import __version__, registry
from harmbench.cli.base import HarmbenchGroup, load_run_method
from harmbench.console import cell, console, info, line, say


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
              help="Prepared manifest (CSV) or dataset folder to fit on.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--preset", default=None, help="Parameter preset (e.g. quick, paper) for methods that have one.")
@click.option("--device", default=None, help="auto, cpu, cuda[:N] or mps.")
@click.option("--force", is_flag=True,
              help="Write into --out even if it holds another method's model or other files.")
def fit(method: str, data: Path, out: Path, preset: str | None, device: str | None, force: bool) -> None:
    """Fit METHOD (a run spec such as 'nyul[n_landmarks=11]') on a manifest's training split."""
    from harmbench.artifacts import require_model_target
    from harmbench.cohort import Cohort

    m = load_run_method(method, preset, device)
    m.check_params()  # before reading data: refuse e.g. ngf=100000 at once
    require_model_target(out, m.name, force=force)  # before fitting: never fit only to fail on save
    cohort = Cohort.from_manifest(data)
    info(f"fitting {m.name} on {len(cohort.train)} training cases ...")
    m.fit(cohort)
    m.save(out)
    say(f"saved {m.name} model to {out}")


@cli.command()
@click.argument("method")
@click.option("--model", type=click.Path(path_type=Path), default=None, help="Model directory from 'fit'.")
@click.option("--input", "input_", required=True, type=click.Path(path_type=Path), help="FU image (NIfTI).")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="The patient's BL image, registered with FU (for head-to-head methods).")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Output NIfTI path.")
def harmonize(method: str, model: Path | None, input_: Path, reference: Path | None, output: Path) -> None:
    """Harmonize one FU image into BL-scanner style with METHOD."""
    from harmbench.harmonize_file import harmonize_file

    harmonize_file(method, model=model, input_path=input_, reference=reference, output=output)
    say(f"wrote {output}")


@cli.command("check-plugin")
@click.argument("method")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_plugin(method: str, as_json: bool) -> None:
    """Run the conformance kit on METHOD (fits it on a tiny generated phantom cohort)."""
    from harmbench.testing import run_checks

    cls = registry.get_method(load_run_method(method).name)
    presets = getattr(cls, "presets", {}) or {}

    def factory():
        m = load_run_method(method, "tiny" if "tiny" in presets else None)
        return m

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
