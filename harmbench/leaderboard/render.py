"""Write summary.csv, the Markdown tables and a self-contained report.html from results."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.errors import DataError
from harmbench.io import write_text_atomic
from harmbench.leaderboard import figures
from harmbench.leaderboard.markdown import render_markdown
from harmbench.leaderboard.summary import summarize

BOX_METRICS = ["psnr", "ssim", "slice-lpips", "lesion-dice", "lesion-avg-hd"]
MONTAGE_CASES = 2
#: names harmbench gives its per-test-set outputs; only these are ever pruned as stale
TABLE_NAME = re.compile(r"table\d+(-[a-z0-9]+)+-test(?P<ts>[A-Za-z0-9]+)\.md")
MONTAGE_NAME = re.compile(r"montage-test-(?P<ts>[A-Za-z0-9]+)-.+\.png")


def load_results(results_dir: Path) -> tuple[pd.DataFrame, dict]:
    f = results_dir / "results.csv"
    if not f.exists():
        raise DataError(f"no results.csv in {results_dir}; run 'harmbench evaluate' first")
    df = pd.read_csv(f, keep_default_na=False, na_values=[""], dtype={"region": str, "case": str})
    df["region"] = df["region"].fillna("")
    meta = json.loads((results_dir / "runs.json").read_text()) if (results_dir / "runs.json").exists() else {}
    return df, meta


def make_montages(out: Path, harmonized: dict, manifest: str, written: list[Path] | None = None) -> None:
    """Save slice montages (PNG) for the first test cases of each test set into ``out/figures``.

    Appends each file written to ``written`` (so a failure half-way still reports what exists).
    """
    from harmbench.cohort import Cohort
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


def render_leaderboards(out: Path, *, harmonized: dict | None = None, manifest: str | None = None) -> list[Path]:
    """(Re-)render every leaderboard file in ``out`` from ``results.csv`` and ``runs.json``.

    Tables (and montages) a previous run wrote that these results no longer produce, e.g. a test
    set left out of the rerun, are deleted, so the folder never mixes two runs' outputs. Only
    files named as harmbench names them are touched. With ``harmonized`` the montages are remade
    and any others removed; without, only montages of test sets absent from the results go.
    """
    out = Path(out)
    results, meta = load_results(out)
    summary = summarize(results)
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    dataset = meta.get("dataset", {}).get("name", out.name)
    written = [out / "summary.csv"]
    md_all: dict[str, str] = {}
    for ts in sorted(set(results["test_set"])):
        for stem, text in render_markdown(summary, ts, dataset, results).items():
            md_all[stem] = text
            written.append(write_text_atomic(out / f"{stem}.md", text))
    montages: list[Path] | None = None
    if harmonized and manifest:
        montages = []
        try:
            make_montages(out, harmonized, manifest, montages)
        except Exception as exc:  # figures are a convenience; never lose the tables for them
            meta.setdefault("report_warnings", []).append(f"montage failed: {exc}")
        written += montages
    remove_stale_outputs(out, {str(t) for t in set(results["test_set"])}, written, montages is not None)
    written.append(write_text_atomic(out / "report.html", report_html(results, summary, meta, md_all, out)))
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


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'


def _md_table_to_html(md: str) -> str:
    """Convert the pipe tables (and paragraphs) of our own Markdown to HTML."""
    parts, rows = [], []

    def flush():
        if rows:
            head, body = rows[0], rows[2:]
            h = "".join(f"<th>{c}</th>" for c in head)
            b = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
            parts.append(f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>")
            rows.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip().strip("|").split("|")]
            cells = [c.replace("**", "<b>", 1).replace("**", "</b>", 1) if c.startswith("**") else c for c in cells]
            rows.append(cells)
            continue
        flush()
        if line.startswith("# "):
            parts.append(f"<h3>{html.escape(line[2:])}</h3>")
        elif line.startswith("## "):
            parts.append(f"<h4>{html.escape(line[3:])}</h4>")
        elif line.strip():
            txt = html.escape(line).replace("**", "")
            parts.append(f"<p>{txt}</p>")
    flush()
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f0f0f5}td:first-child,th:first-child{text-align:left}
img{max-width:100%;margin:.5em 0;border:1px solid #eee}h2{border-bottom:2px solid #446;padding-bottom:4px}
.meta{font-size:12px;color:#555}"""


def report_html(results: pd.DataFrame, summary: pd.DataFrame, meta: dict, md: dict[str, str], out: Path) -> str:
    ds = meta.get("dataset", {})
    body = [f"<h1>harmbench leaderboard — {html.escape(str(ds.get('name', out.name)))}</h1>",
            f"<p class='meta'>harmbench {html.escape(str(meta.get('harmbench_version', '')))}; "
            f"dataset hash {html.escape(str(ds.get('hash', '')))}; splits {html.escape(str(ds.get('splits', '')))}; "
            f"versions {html.escape(json.dumps(meta.get('versions', {})))}</p>"]
    if meta.get("skipped"):
        body.append("<h2>Skipped runs</h2><ul>" + "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in meta["skipped"].items()) + "</ul>")
    if meta.get("failures"):
        body.append("<h2>Failures</h2><ul>" + "".join(
            f"<li>{html.escape(f['stage'])} {html.escape(str(f['tag']))}: {html.escape(f['error'])}</li>"
            for f in meta["failures"]) + "</ul>")
    if meta.get("unavailable_metrics"):
        body.append("<h2>Unavailable metrics</h2><ul>" + "".join(
            f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in meta["unavailable_metrics"].items()) + "</ul>")
    for ts in sorted(set(results["test_set"])):
        body.append(f"<h2>Test set {ts}</h2>")
        for stem in sorted(k for k in md if k.endswith(f"test{ts}")):
            body.append(_md_table_to_html(md[stem]))
        for m in BOX_METRICS:
            body.append(_img(figures.box_plot(results, summary, m, ts), f"box plot {m} test {ts}"))
        body.append(_img(figures.cnr_bars(summary, ts), f"CNR differences test {ts}"))
    figdir = out / "figures"
    if figdir.exists():
        pngs = sorted(figdir.glob("montage-*.png"))
        if pngs:
            body.append("<h2>Slice montages</h2><p>BL / original FU / harmonized / |harmonized − BL|.</p>")
            body += [_img(p.read_bytes(), p.stem) for p in pngs]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>harmbench leaderboard</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(b for b in body if b) + "</body></html>\n")


def terminal_summary(out: Path) -> tuple[str, list[list[str]]]:
    """Headline rows (run, test-A PSNR, SSIM, change-any) for the CLI's final table."""
    results, _ = load_results(out)
    s = summarize(results)
    rows = []
    for ts in sorted(set(results["test_set"])):
        for line in headline(s, ts).splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append([ts] + cells)
    return str(out), rows


__all__ = ["render_leaderboards", "terminal_summary", "load_results", "np"]
