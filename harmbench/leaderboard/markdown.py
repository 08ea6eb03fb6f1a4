"""Markdown tables mirroring the paper's Tables 2-5, one set per test set.

Bolding rule (all tables): the best run in a column is bold only if it is a method run (not a
reference row), is not "≈ identity" (:func:`harmbench.leaderboard.summary.near_identity_runs`) and
beats the original FU by at least the metric's minimal meaningful difference with a 95 % CI that
excludes 0 (:func:`harmbench.leaderboard.summary.meaningful_improvement`); otherwise the column has
no bold. Runs that are ≈ identity carry " (≈ identity)" after their name in every table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

import pandas as pd

from harmbench.leaderboard.instruments import change_table as instrument_change_table
from harmbench.leaderboard.instruments import instrument_table
from harmbench.leaderboard.summary import (BASELINE, CEILING, IDENTITY_RMS_FLOOR, higher_is_better,
                                           meaningful_improvement, min_meaningful, near_identity_runs)

TABLES = {
    "table2-slicewise": ("Table 2 analogue: slice-wise similarity to BL inside the BL head mask (kept axial "
                         "slices; *-box: paper-style head bounding box)",
                         ["slice-ssim", "slice-psnr", "slice-lpips",
                          "recon-slice-ssim", "recon-slice-psnr", "recon-slice-lpips",
                          "slice-ssim-box", "slice-psnr-box"]),
    "table3-volumewise": ("Table 3 analogue: volume-wise similarity to BL inside the BL head mask "
                          "(*-box: paper-style head bounding box; input-rms-change: RMS distance of the "
                          "output from the original FU)",
                          ["ssim", "psnr", "recon-ssim", "recon-psnr", "ssim-box", "psnr-box", "input-rms-change"]),
    "table5-lesion": ("Table 5 analogue: target lesion agreement with BL (automated segmenter)",
                      ["lesion-dice", "lesion-avg-hd", "lesion-hd95", "lesion-hd"]),
}
REF_LABELS = {BASELINE: "original FU (reference)", CEILING: "FU2, same scanner (ceiling)"}
IDENTITY_SUFFIX = " (≈ identity)"


def fmt_p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "<.001" if p < 0.001 else f"{p:.3f}".lstrip("0")


def fmt_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    if math.isinf(mean):
        return "inf"
    sd_s = "" if sd is None or math.isnan(sd) else f" ± {sd:.{digits}f}"
    return f"{mean:.{digits}f}{sd_s}"


def _natural(run: str) -> list:
    """Sort key that orders ``m[lam=5]`` before ``m[lam=10]``."""
    return [float(t) if t.replace(".", "", 1).isdigit() else t for t in re.split(r"(\d+(?:\.\d+)?)", run)]


def run_order(summary: pd.DataFrame) -> list[str]:
    runs = list(dict.fromkeys(summary["run"]))
    methods = [r for r in runs if r not in (BASELINE, CEILING)]
    return ([r for r in (BASELINE,) if r in runs] + sorted(methods, key=_natural)
            + [r for r in (CEILING,) if r in runs])


def _label(run: str, near_identity: Collection[str] = ()) -> str:
    """Display name of a run: reference rows spelled out, " (≈ identity)" appended when flagged."""
    return REF_LABELS.get(run, run) + (IDENTITY_SUFFIX if run in near_identity else "")


def _near_identity(summary: pd.DataFrame) -> set[str]:
    """≈ identity runs over every test set present in ``summary`` (tables get one test set)."""
    if "test_set" not in summary:
        return set()
    return set().union(*(near_identity_runs(summary, ts) for ts in set(summary["test_set"])))


def _digits(metric: str) -> int:
    return 2 if "psnr" in metric or "hd" in metric else 3


def _unit(metric: str) -> str:
    return " dB" if "psnr" in metric else " mm" if "hd" in metric else ""


def fmt_diff(row: pd.Series, digits: int = 3) -> str:
    """``+4.12 [3.80, 4.44]``: mean paired difference vs original FU and its 95 % CI ('' if none)."""
    d = float(row.get("diff_mean", math.nan))
    if math.isnan(d):
        return ""
    lo, hi = float(row.get("diff_lo", math.nan)), float(row.get("diff_hi", math.nan))
    ci = "" if math.isnan(lo) or math.isnan(hi) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{d:+.{digits}f}{ci}"


def bold_run(rows: pd.DataFrame, metric: str, near_identity: Collection[str]) -> str | None:
    """The run to bold among ``rows`` (one metric and region), or None (see the module docstring).

    The best mean is taken over every row except the ceiling, so that a column where the original
    FU itself is best has no bold.
    """
    hib = higher_is_better(metric)
    cand = rows[~rows["run"].isin([CEILING])].dropna(subset=["mean"])
    if cand.empty or hib is None:
        return None
    best = cand.loc[cand["mean"].idxmax() if hib else cand["mean"].idxmin()]
    if best["run"] == BASELINE or best["run"] in near_identity or not meaningful_improvement(best, metric):
        return None
    return str(best["run"])


def bold_rule(metrics: list[str]) -> str:
    """Caption sentence stating the effect-size columns and the bolding rule for ``metrics``."""
    mmd = ", ".join(f"{m} {min_meaningful(m):g}{_unit(m)}" for m in metrics
                    if higher_is_better(m) is not None)
    return (f"A run is marked '≈ identity' when its output differs from its input by an RMS below "
            f"{IDENTITY_RMS_FLOOR:g} of the [0, 1] intensity range (mean `input-rms-change`); "
            "such runs are never bold. "
            "The best run is bold only if it beats the original FU by at least the minimal meaningful "
            f"difference ({mmd}) with a 95 % CI of the paired difference that excludes 0; "
            "otherwise no value in that column is bold.")


def metric_table(summary: pd.DataFrame, metrics: list[str], *,
                 near_identity: Collection[str] | None = None) -> str:
    """Rows = runs; per metric: mean ± SD, Δ vs original FU [95 % CI], Wilcoxon P vs original FU.

    Args:
        summary: output of :func:`harmbench.leaderboard.summary.summarize` for one test set.
        metrics: metric names to show (those absent from ``summary`` are dropped).
        near_identity: runs to mark "≈ identity"; computed from ``summary`` when None.
    """
    metrics = [m for m in metrics if m in set(summary["metric"])]
    if not metrics:
        return "_no values for these metrics_\n"
    ident = _near_identity(summary) if near_identity is None else set(near_identity)
    s = summary[summary["region"] == ""]
    header = "| run | " + " | ".join(f"{m} | Δ vs FU [95 % CI] | P" for m in metrics) + " |"
    sep = "|---|" + "---|---|---|" * len(metrics)
    best = {m: bold_run(s[s["metric"] == m], m, ident) for m in metrics}
    lines = [header, sep]
    for run in run_order(s):
        cells = []
        for m in metrics:
            r = s[(s["run"] == run) & (s["metric"] == m)]
            if r.empty:
                cells += ["", "", ""]
                continue
            r = r.iloc[0]
            val = fmt_mean_sd(r["mean"], r["sd"], _digits(m))
            if best[m] == run:
                val = f"**{val}**"
            cells += [val, fmt_diff(r, _digits(m)), fmt_p(r["p_wilcoxon"])]
        lines.append(f"| {_label(run, ident)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cnr_table(summary: pd.DataFrame, *, near_identity: Collection[str] | None = None) -> str:
    """Table 4 analogue: rows = regions, columns = runs; |CNR_BL - CNR_FU| mean ± SD (paired t-test P).

    Bolding follows the module rule with the ``cnr-diff`` minimal meaningful difference.
    """
    s = summary[summary["metric"] == "cnr-diff"]
    if s.empty:
        return "_no CNR values (dataset has no label maps)_\n"
    ident = _near_identity(summary) if near_identity is None else set(near_identity)
    runs = run_order(s)
    lines = ["| region | " + " | ".join(f"{_label(r, ident)} | P" for r in runs) + " |",
             "|---|" + "---|---|" * len(runs)]
    for region in sorted(set(s["region"])):
        sub = s[s["region"] == region]
        best = bold_run(sub, "cnr-diff", ident)
        cells = []
        for run in runs:
            r = sub[sub["run"] == run]
            if r.empty:
                cells += ["", ""]
                continue
            r = r.iloc[0]
            val = fmt_mean_sd(r["mean"], r["sd"])
            cells += [f"**{val}**" if run == best else val, fmt_p(r["p_ttest"])]
        lines.append(f"| {region} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cnr_parts_table(summary: pd.DataFrame, *, near_identity: Collection[str] | None = None) -> str:
    """Per run: regions whose mean |ΔCNR| is below the original FU's, and what the differences are made of.

    The parts are those of :class:`harmbench.metrics.cnr.RegionalCnr`: ``cnr-contrast-shift`` and
    ``cnr-noise-shift`` (shown as the mean over regions of the absolute per-region mean) and
    ``cnr-noise-ratio`` (median over regions).
    """
    s = summary[summary["metric"].str.startswith("cnr-")]
    diff = s[s["metric"] == "cnr-diff"].pivot_table(index="run", columns="region", values="mean")
    if diff.empty or BASELINE not in diff.index:
        return ""
    ref = diff.loc[BASELINE]
    ident = _near_identity(summary) if near_identity is None else set(near_identity)
    lines = ["| run | regions with a smaller CNR difference than original FU | mean CNR difference "
             "| contrast shift | noise shift | background SD / BL's |", "|---|---|---|---|---|---|"]
    for run in run_order(s):
        if run not in diff.index:
            continue
        row = diff.loc[run]
        valid = row.notna() & ref.notna()
        count = "—" if run == BASELINE else f"{int((row[valid] < ref[valid]).sum())}/{int(valid.sum())}"
        cells = [count, fmt_mean_sd(row.mean(), None)]
        for m in ("cnr-contrast-shift", "cnr-noise-shift"):
            cells.append(fmt_mean_sd(s[(s["run"] == run) & (s["metric"] == m)]["mean"].abs().mean(), None))
        cells.append(fmt_mean_sd(s[(s["run"] == run) & (s["metric"] == "cnr-noise-ratio")]["mean"].median(), None))
        lines.append(f"| {_label(run, ident)} | " + " | ".join(cells) + " |")
    return ("\n## What the differences are made of\n\nCNR = contrast / background SD. The signed difference "
            "CNR_FU − CNR_BL splits into a contrast shift, (contrast_FU − contrast_BL) / SD_BL, and a noise shift, "
            "contrast_FU · (1/SD_FU − 1/SD_BL). Shifts: mean over regions of the absolute per-region mean; "
            "background SD / BL's: median over regions (1 = BL's noise level). A run that matches BL's contrast "
            "but smooths away noise keeps a large noise shift.\n\n" + "\n".join(lines) + "\n")


def headline(summary: pd.DataFrame, test_set: str) -> str:
    """The per-run one-liner used in the terminal summary and README."""
    s = summary[(summary["test_set"] == test_set) & (summary["region"].isin(["", None]))]
    ident = near_identity_runs(summary, test_set)
    parts = []
    for run in run_order(s):
        def get(m):
            r = s[(s["run"] == run) & (s["metric"] == m)]
            return float(r["mean"].iloc[0]) if not r.empty else float("nan")
        parts.append((run, get("psnr"), get("ssim"), get("change-any")))
    return "\n".join(f"| {_label(r, ident)} | {p:.2f} | {q:.3f} | {c:.2f} |" for r, p, q, c in parts)


def render_markdown(summary: pd.DataFrame, test_set: str, dataset: str,
                    results: pd.DataFrame | None = None) -> dict[str, str]:
    """Return {file stem: markdown} for one test set."""
    s = summary[summary["test_set"] == test_set]
    ident = near_identity_runs(summary, test_set)
    out = {}
    desc = "stable lesions" if test_set == "A" else "lesions that really changed"
    for stem, (title, metrics) in TABLES.items():
        shown = [m for m in metrics if m in set(s["metric"])]
        out[f"{stem}-test{test_set}"] = (
            f"# {title}\n\nDataset `{dataset}`, test set {test_set} ({desc}). Mean ± SD over cases; "
            "Δ vs FU: mean paired difference from the original FU with its 95 % t-interval; "
            "P: Wilcoxon signed-rank vs original FU. " + bold_rule(shown) + "\n\n"
            + metric_table(s, metrics, near_identity=ident))
    out[f"table4-cnr-test{test_set}"] = (
        f"# Table 4 analogue: regional |CNR_BL − CNR_FU|\n\nDataset `{dataset}`, test set {test_set}. "
        "Lower is better. P: paired t-test vs original FU (as in the paper's Table 4 note; Wilcoxon P and "
        "the paired differences with 95 % CIs are in summary.csv). " + bold_rule(["cnr-diff"]) + "\n\n"
        + cnr_table(s, near_identity=ident) + cnr_parts_table(s, near_identity=ident))
    out[f"table5-change-test{test_set}"] = (
        f"# Automated change read (reader-study surrogate)\n\nDataset `{dataset}`, test set {test_set}. "
        "Rate of 'changed' calls against the truth, exact 95 % CIs; P: exact McNemar vs original FU. Thresholds "
        "calibrated on the train/val same-scanner pairs (runs.json, metric policy).\n\n"
        + instrument_change_table(s, test_set, lambda r: _label(r, ident)))
    if results is not None:
        text, failed = instrument_table(results, test_set)
        if failed:
            caveat = ("\n> **Instrument check failed on this test set** (table6-instruments): "
                      + "; ".join(failed) + ". The numbers below carry that caveat.\n")
            for stem in (f"table5-lesion-test{test_set}", f"table5-change-test{test_set}"):
                head, _, body = out[stem].partition("\n\n")
                out[stem] = head + "\n" + caveat + "\n" + body
        if text:
            out[f"table6-instruments-test{test_set}"] = (
                f"# Instrument checks against the ground truth\n\nDataset `{dataset}`, test set {test_set}. "
                "The lesion segmenter and the change read, measured where the truth is known.\n\n" + text)
    return out
