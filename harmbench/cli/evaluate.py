"""``harmbench evaluate`` and ``harmbench leaderboard``."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from harmbench.console import console, rich_table, say
from harmbench.errors import OptionError


@click.command()
@click.option("--dataset", default="synth-quick", show_default=True,
              help="Registered dataset name or a manifest CSV (prepared on demand).")
@click.option("--methods", default=None,
              help="Comma-separated runs, e.g. 'histmatch,nyul[n_landmarks=11],oml-cyclegan[lambda_oml=0,5,10]' "
                   "(default: every registered method).")
@click.option("--test-sets", default="A,B", show_default=True, help="A (stable lesions), B (changed), or A,B.")
@click.option("--preset", default="auto", show_default=True,
              help="Preset for methods that have one: quick, paper, or auto (quick on CPU, paper on GPU).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Leaderboard folder (default: leaderboards/<dataset>, or leaderboards/<name>-<hash8> for a "
                   "manifest).")
@click.option("--force", is_flag=True, help="Write into an --out that holds another dataset's leaderboard.")
@click.option("--work-dir", type=click.Path(path_type=Path), default=None,
              help="Cache for models/harmonized images/scores (default: ~/.cache/harmbench/work/<hash>).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda[:N] or mps.")
@click.option("--seeds", "seeds", default=None,
              help="Training seeds: a count N (seeds 0..N-1) or a list such as 0,4,7. Every method that "
                   "declares a seed is fitted once per seed; the others run once. [default: 3]")
@click.option("--seed", type=int, default=None,
              help="One training seed S (the same as --seeds S,).")
@click.option("--metrics", default=None, help="Comma-separated metric names (default: all registered).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Run units in a local process pool, or on Dask (pip install 'harmbench[dask]').")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes: local harmonize/score pool or Dask LocalCluster size "
                   "[default: HARMBENCH_WORKERS or min(2, CPUs)]. Fits run one at a time on all cores.")
@click.option("--scheduler", default=None,
              help="With --executor dask: address of an existing Dask scheduler (tcp://host:port).")
@click.option("--cluster", type=click.Choice(["local", "slurm"]), default="local", show_default=True,
              help="With --executor dask: a LocalCluster, or a dask-jobqueue SLURMCluster.")
@click.option("--cluster-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON file of SLURMCluster arguments (cores, memory, queue, job_extra_directives...).")
@click.option("--gpu-resources", is_flag=True,
              help="Request a 'GPU' Dask resource per deep-method fit (one training per GPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def evaluate(dataset, methods, test_sets, preset, out, force, work_dir, device, seeds, seed, metrics, executor,
             workers, scheduler, cluster, cluster_config, gpu_resources, as_json) -> None:
    """Fit every method, harmonize test sets A and B, score them and write leaderboards."""
    from harmbench.harness.plan import EvalConfig
    from harmbench.harness.runner import evaluate as run_evaluate
    from harmbench.harness.seeds import DEFAULT_SEEDS, check_seeds, parse_seeds
    from harmbench.runspec import parse_specs

    if executor != "dask":
        dask_only = {"--scheduler": scheduler is not None, "--cluster": cluster != "local",
                     "--cluster-config": cluster_config is not None, "--gpu-resources": gpu_resources}
        given = [opt for opt, used in dask_only.items() if used]
        if given:
            verb, them = ("apply", "them") if len(given) > 1 else ("applies", "it")
            raise OptionError(f"{', '.join(given)} only {verb} to --executor dask; add --executor dask "
                              f"or drop {them}")
    if seed is not None and seeds is not None:
        raise OptionError(f"--seed {seed} and --seeds {seeds} both choose the training seeds; give only one")
    if seed is not None:
        seed_list = check_seeds((seed,))
    else:
        seed_list = parse_seeds(seeds) if seeds is not None else DEFAULT_SEEDS
    cfg = EvalConfig(
        dataset=dataset, methods=parse_specs(methods) if methods is not None else [],
        test_sets=tuple(t.upper() for t in _names("--test-sets", test_sets)),
        preset=preset, out=out, work_dir=work_dir, device=device, seeds=seed_list,
        metrics=_names("--metrics", metrics) if metrics is not None else None,
        executor=executor, workers=workers, scheduler=scheduler, cluster=cluster,
        cluster_config=json.loads(cluster_config.read_text()) if cluster_config else None,
        gpu_resources=gpu_resources, force=force)
    res = run_evaluate(cfg)
    if as_json:
        click.echo(json.dumps({"out": str(res.out), "failures": res.failures,
                               "skipped": res.runs.get("skipped", {}), "timings": res.runs.get("timings", {})},
                              indent=2))
    else:
        _print_summary(res.out)
        for name, reason in res.runs.get("skipped", {}).items():
            say(("skipped", "yellow"), f" {name}: {reason}")
        for f in res.failures:
            say(("failed", "red"), f" {f['stage']} {'/'.join(map(str, f['tag']))}: {f['error']}")
        say(f"leaderboards: {res.out}/  (report: {res.out / 'report.html'})")
        say(f"wall time {res.runs['timings'].get('total', 0):.1f} s")
    if res.failures:
        raise SystemExit(1)


def _names(option: str, value: str) -> list[str]:
    """Comma-separated names; a blank list is an error, not 'all' (omit the option for all)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise OptionError(f"{option} {value!r} names nothing; give a comma-separated list, or omit "
                          f"{option} for the default")
    return names


def _print_summary(out: Path) -> None:
    from harmbench.leaderboard.render import terminal_summary

    _, table = terminal_summary(out)
    console.print(rich_table(table))
    from harmbench.leaderboard.instruments import failed_checks
    from harmbench.leaderboard.render import load_results

    results, _ = load_results(out)
    for ts, failed in failed_checks(results, sorted(set(results["test_set"]))).items():
        for f in failed:
            console.print(f"[yellow]instrument check failed[/] (test {escape(ts)}): {escape(f)}")


@click.command()
@click.argument("results_dir", type=click.Path(path_type=Path))
def leaderboard(results_dir: Path) -> None:
    """Re-render the Markdown tables and report.html from RESULTS_DIR/results.csv."""
    from harmbench.leaderboard.render import render_leaderboards

    files = render_leaderboards(results_dir)
    _print_summary(results_dir)
    say(f"wrote {len(files)} files in {results_dir}")
