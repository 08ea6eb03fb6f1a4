"""Write summary.csv, the Markdown tables and a self-contained report.html from results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import write_text_atomic
from harmbench.leaderboard import figures, stamp
from harmbench.leaderboard.cells import diagnostics
from harmbench.leaderboard.instruments import bl_anchored
from harmbench.leaderboard.names import diagnostic_runs
from harmbench.leaderboard.markdown import HEADLINE_METRICS, headline, leaderboard_documents
from harmbench.leaderboard.report import report_html
from harmbench.leaderboard.ranking import pairwise_frame, ranking_frame, rankings, unseeded_runs
from harmbench.leaderboard.summary import SEED, seed_average, summarize
from harmbench.leaderboard.table import Document, Table, to_markdown

MONTAGE_CASES = 2
#: names harmbench gives its per-test-set outputs; only these are ever pruned as stale
TABLE_NAME = re.compile(r"table\d+(-[a-z0-9]+)+-test(?P<ts>[A-Za-z0-9]+)\.md")
MONTAGE_NAME = re.compile(r"montage-test-(?P<ts>[A-Za-z0-9]+)-.+\.png")


def results_schema(meta: dict) -> int:
    """The results.csv schema of a leaderboard: runs.json ``results_schema`` (absent: 1, no seed column)."""
    return int(meta.get("results_schema", 1))


def load_results(results_dir: Path) -> tuple[pd.DataFrame, dict]:
    """results.csv and runs.json of a leaderboard folder.

    Schema 1 files have no ``seed`` column; it is added as NaN (one unknown seed per run), so the
    frame always has ``seed`` (float: an integer for learned runs, NaN otherwise).
    """
    f = results_dir / "results.csv"
    if not f.exists():
        raise DataError(f"no results.csv in {results_dir}; run 'harmbench evaluate' first")
    df = pd.read_csv(f, keep_default_na=False, na_values=[""], dtype={"region": str, "case": str})
    df["region"] = df["region"].fillna("")
    if SEED not in df:
        df[SEED] = np.nan
    seed = pd.to_numeric(df[SEED], errors="coerce")
    if (seed.isna() & df[SEED].notna()).any():
        bad = df.loc[seed.isna() & df[SEED].notna(), SEED].iloc[0]
        raise DataError(f"results.csv in {results_dir} has seed {bad!r}; expected an integer or empty")
    df[SEED] = seed.astype(np.float64)
    meta = json.loads((results_dir / "runs.json").read_text()) if (results_dir / "runs.json").exists() else {}
    return df, meta


def make_montages(out: Path, harmonized: dict, manifest: str, written: list[Path] | None = None) -> None:
    """Save slice montages (PNG) for the first test cases of each test set into ``out/figures``.

    Appends each file written to ``written`` (so a failure half-way still reports what exists).
    """
    from harmbench.data.cohort import Cohort
    from harmbench.io import load_volume
    from harmbench.slices import to_axial_stack

    cohort = Cohort.from_manifest(manifest)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    for split in ("test-A", "test-B"):
        for case in cohort.split(split)[:MONTAGE_CASES]:
            runs = {run: v["harmonized"] for (run, cid), v in
                    ((tuple(k) if isinstance(k, tuple) else tuple(k.split("|")), v) for k, v in harmonized.items())
                    if cid == case.case_id}
            if not runs:
                continue
            bl = to_axial_stack(case.volume("BL"))
            k = bl.shape[0] // 2 + bl.shape[0] // 10
            fu = to_axial_stack(case.volume("FU"))[k]
            imgs = {run: to_axial_stack(load_volume(p))[k] for run, p in sorted(runs.items())}
            png = figures.montage(bl[k], fu, imgs, f"{split} case {case.case_id}, axial slice {k}")
            path = figdir / f"montage-{split}-{case.case_id}.png"
            write_bytes_atomic(path, png)
            if written is not None:
                written.append(path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    from harmbench.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def render_leaderboards(out: Path, *, harmonized: dict | None = None, manifest: str | None = None,
                        reuse: bool = False) -> list[Path]:
    """(Re-)render every leaderboard file in ``out`` from ``results.csv`` and ``runs.json``.

    Tables (and montages) a previous run wrote that these results no longer produce, e.g. a test
    set left out of the rerun, are deleted, so the folder never mixes two runs' outputs. Only
    files named as harmbench names them are touched. With ``harmonized`` the montages are remade
    and any others removed; without, only montages of test sets absent from the results go.
    With ``reuse`` (a rerun of ``harmbench evaluate``) nothing is rewritten when the previous
    rendering had the same inputs and code (:mod:`harmbench.leaderboard.stamp`).
    """
    out = Path(out)
    if not (out / "results.csv").exists():
        load_results(out)                                   # the one-line "run evaluate first" error
    current = stamp.render_stamp(out, harmonized, manifest)
    if reuse and (previous := stamp.reusable(out, current)) is not None:
        return previous
    results, meta = load_results(out)
    with diagnostics(diagnostic_runs(meta)):
        written = _render(out, results, meta, harmonized, manifest)
    stamp.save(out, current, written)
    return written


def _render(out: Path, results: pd.DataFrame, meta: dict, harmonized: dict | None, manifest: str | None) -> list[Path]:
    summary = summarize(results)
    ranked = rankings(results)
    unseeded = unseeded_runs(results, results_schema(meta))
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(out / "ranking.csv", ranking_frame(ranked).to_csv(index=False, float_format="%.6g"))
    write_text_atomic(out / "pairwise.csv", pairwise_frame(ranked).to_csv(index=False, float_format="%.6g"))
    dataset = meta.get("dataset", {}).get("name", out.name)
    written = [out / "summary.csv", out / "ranking.csv", out / "pairwise.csv"]
    documents: dict[str, Document] = {}
    for ts in sorted(set(results["test_set"])):
        for stem, doc in leaderboard_documents(summary, ts, dataset, results, ranked, unseeded,
                                               bl_anchored(meta)).items():
            documents[stem] = doc
            written.append(write_text_atomic(out / f"{stem}.md", to_markdown(doc)))
    montages: list[Path] | None = None
    if harmonized and manifest:
        montages = []
        try:
            make_montages(out, harmonized, manifest, montages)
        except Exception as exc:  # figures are a convenience; never lose the tables for them
            meta.setdefault("report_warnings", []).append(f"montage failed: {exc}")
        written += montages
    remove_stale_outputs(out, {str(t) for t in set(results["test_set"])}, written, montages is not None)
    written.append(write_text_atomic(out / "report.html", report_html(seed_average(results), summary, meta, documents,
                                                                     out, ranked)))
    return written


def remove_stale_outputs(out: Path, test_sets: set[str], written: list[Path], montages_remade: bool) -> list[Path]:
    """Delete harmbench-named tables and montages in ``out`` that this rendering did not write.

    Args:
        out: leaderboard folder.
        test_sets: test sets present in the results.
        written: files this rendering wrote (kept).
        montages_remade: montages were regenerated, so every other montage is stale; else only
            montages of test sets not in ``test_sets`` are.

    Returns:
        The files removed.
    """
    keep = {p.resolve() for p in written}
    stale = [f for f in out.glob("table*-test*.md") if TABLE_NAME.fullmatch(f.name) and f.resolve() not in keep]
    figdir = out / "figures"
    if figdir.is_dir():
        for f in figdir.glob("montage-test-*.png"):
            m = MONTAGE_NAME.fullmatch(f.name)
            if m and f.resolve() not in keep and (montages_remade or m["ts"] not in test_sets):
                stale.append(f)
    for f in stale:
        f.unlink(missing_ok=True)
    return stale


def terminal_summary(out: Path) -> tuple[str, Table]:
    """The CLI's final table: per test set and run, PSNR rank group, volume PSNR [95 % CI], SSIM and
    change-call rate, methods sorted by PSNR rank.

    Returns the leaderboard folder and the :class:`~harmbench.leaderboard.table.Table`
    (render it with :func:`harmbench.console.rich_table`).
    """
    results, meta = load_results(out)
    with diagnostics(diagnostic_runs(meta)):
        return str(out), _headline(results)


def _headline(results: pd.DataFrame) -> Table:
    ranked = rankings(results, endpoint_keys=("psnr",))
    # the headline reads these metrics only; each metric's summary rows depend on its own values alone
    # (the Holm family is not shown), so summarizing just them gives the same cells, much faster
    shown = results[results["metric"].isin(HEADLINE_METRICS)]
    return headline(summarize(shown), sorted(set(results["test_set"])), ranked)
