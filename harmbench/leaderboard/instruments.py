"""Instrument checks against ground truth, and the change-read table scored against the truth.

The lesion and change-read numbers of a leaderboard are only as good as the automated segmenter
behind them, so every leaderboard whose dataset has lesion masks carries an **instrument
table** (``table6-instruments-test{A,B}.md``): the segmenter's accuracy against the true masks
on BL, on the same-scanner FU2 and on the original FU (volume error, Dice with the true mask,
error of the measured ΔV/V against the true change) and the change read's false-call rate on
same-scanner stable pairs (test A's FU2) and its sensitivity on same-scanner changed pairs (test
B's FU2), with exact (Clopper–Pearson) 95 % CIs. Each has a stated accuracy check
(:data:`CHECKS`); a failed check is printed under the table and in the terminal summary, and the
metrics it feeds are flagged there, never silently reported.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from harmbench.leaderboard.cells import p_cell, run_order, run_row
from harmbench.leaderboard.summary import BASELINE, CEILING
from harmbench.leaderboard.table import Block, Bullets, Cell, Paragraph, Table, spans
from harmbench.ranking import Ranking

if TYPE_CHECKING:
    from harmbench.leaderboard.ranking import RankOrder

#: accuracy checks of the instruments (docs/metrics.md "Instrument checks")
CHECKS = {
    "volume": 0.15,        # |BL volume error| per lesion
    "stable_dv": 0.10,     # |measured ΔV/V| on same-scanner stable pairs (test A FU2)
    "changed_dv": 0.10,    # |measured − true ΔV/V| on same-scanner changed pairs (test B FU2)
    "false_calls": 0.10,   # change-any false-call rate on same-scanner stable pairs
    "sensitivity": 7 / 8,  # change-kept rate on same-scanner changed pairs
}
FEEDS = "lesion-dice/HD, lesion-volume-change, change calls"


def binom_ci(k: int, n: int) -> tuple[float, float]:
    """Exact (Clopper–Pearson) 95 % CI of a proportion k/n (NaNs when n = 0)."""
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def fmt_rate(k: int, n: int) -> str:
    """``k/n (p %) [lo, hi]`` with the exact 95 % CI in per cent."""
    if n == 0:
        return "n/a"
    lo, hi = binom_ci(k, n)
    return f"{k}/{n} ({100 * k / n:.0f} %) [{100 * lo:.0f}, {100 * hi:.0f}]"


def _values(results: pd.DataFrame, run: str, metric: str) -> pd.Series:
    r = results[(results["run"] == run) & (results["metric"] == metric)]
    return r.set_index("case")["value"].astype(float).dropna()


def _count(v: pd.Series) -> tuple[int, int]:
    return int((v == 1.0).sum()), int(v.size)


def kept_label(frame: pd.DataFrame) -> str:
    """What ``change-kept`` requires on this data: the size call in the true direction, and every new
    lesion seen when some follow-up has new lesions (a value of ``change-new-lesion``)."""
    new = frame[frame["metric"] == "change-new-lesion"]
    column = "value" if "value" in new.columns else "mean"
    has_new = bool(new[column].notna().any()) if column in new.columns else False
    return "size, true direction; new lesions seen" if has_new else "size, true direction"


def bl_anchored(meta: Mapping) -> bool | None:
    """Whether the run's lesion segmenter took BL's volume from the BL lesion mask (``runs.json`` →
    the change read's segmenter policy, ``anchor``); None when the record does not say."""
    policy = ((meta.get("metrics") or {}).get("change-read") or {}).get("policy") or {}
    segmenter = policy.get("segmenter") or {}
    if "model_fit_version" in segmenter:
        return bool(segmenter.get("anchor", False))
    return False if "version" in segmenter else None


def instrument_table(results: pd.DataFrame, test_set: str,
                     anchored: bool | None = None) -> tuple[list[Block], list[str]]:
    """Instrument tables of one test set (as document blocks) and the list of failed checks.

    ``anchored``: the segmenter took BL's volume from the BL lesion mask (:func:`bl_anchored`);
    the table then says that its BL row checks the contour. Returns ``([], [])`` when the results
    carry no instrument values (no lesion masks).
    """
    res = results[results["test_set"] == test_set]
    if "lesion-volume-error-bl" not in set(res["metric"]):
        return [], []
    failed: list[str] = []
    segmenter = Table(("image", "n", "median |volume error|", "max |volume error|", "within ±15 %",
                       "Dice with true mask", "max |ΔV/V − true|"))
    bl_err = _values(res, BASELINE, "lesion-volume-error-bl")
    entries = [("BL", bl_err, _values(res, BASELINE, "lesion-truth-dice-bl"), None)]
    for run, label in ((CEILING, "FU2, same scanner"), (BASELINE, "original FU")):
        entries.append((label, _values(res, run, "lesion-volume-error"), _values(res, run, "lesion-truth-dice"), run))
    for label, err, dsc, run in entries:
        if err.empty:
            continue
        within = int((err.abs() <= CHECKS["volume"]).sum())
        dv = _values(res, run, "lesion-volume-change-error") if run is not None else pd.Series(dtype=float)
        median, worst = float(err.abs().median()), float(err.abs().max())
        segmenter.add([label, Cell(str(err.size), err.size), Cell(f"{100 * median:.1f} %", median),
                       Cell(f"{100 * worst:.1f} %", worst), Cell(f"{within}/{err.size}", within),
                       Cell(f"{dsc.mean():.3f}", float(dsc.mean())) if not dsc.empty else Cell("—"),
                       Cell(f"{dv.abs().max():.3f}", float(dv.abs().max())) if not dv.empty else Cell("—")],
                      reference=run is not None)
        if label == "BL" and within < err.size:
            failed.append(f"lesion volume: {err.size - within}/{err.size} BL lesions outside ±15 % of the true "
                          f"volume (max {100 * worst:.0f} %)")
    fu2_dv = _values(res, CEILING, "lesion-volume-change-error")
    if not fu2_dv.empty:
        limit = CHECKS["stable_dv"] if test_set == "A" else CHECKS["changed_dv"]
        bad = int((fu2_dv.abs() > limit).sum())
        if bad:
            failed.append(f"lesion ΔV/V: {bad}/{fu2_dv.size} same-scanner pairs off the true change by > {limit:.2f}")
    blocks: list[Block] = [
        Paragraph(spans("Volume error = measured / true − 1 against the session's true lesion volume (the manifest's "
                        "`lesion_mm3`, e.g. a synthetic lesion's analytic volume; else the true mask's voxel volume). "
                        + {True: "BL is the reference session: the segmenter took its volume from the BL lesion mask "
                                 "(the contour anchors the fit), so the BL row checks that contour and the FU2 rows "
                                 "check the segmenter. ",
                           False: "The segmenter measured BL from its image. ", None: ""}[anchored]
                        + "Checks: every "
                        f"BL lesion within ±{CHECKS['volume']:.0%}, same-scanner |ΔV/V − true| ≤ "
                        f"{CHECKS['stable_dv']:.2f}, same-scanner false-call rate ≤ {CHECKS['false_calls']:.0%} "
                        "(test A), sensitivity ≥ 7/8 (test B).")),
        segmenter]
    what = "false calls (stable lesions)" if test_set == "A" else "sensitivity (changed lesions)"
    calls = Table(("call", "FU2 rate"), title=f"Change read on the same-scanner FU2 — {what}, exact 95 % CI:")
    for metric, name in (("change-size", "size"), ("change-any", "any criterion"), ("change-kept", kept_label(res))):
        v = _values(res, CEILING, metric)
        if not v.empty:
            calls.add([name, rate_cell(*_count(v))])
    if calls.rows:
        blocks.append(calls)
        if test_set == "A":
            k, n = _count(_values(res, CEILING, "change-any"))
            if n and k / n > CHECKS["false_calls"]:
                failed.append(f"change read: same-scanner false-call rate {k}/{n} > {CHECKS['false_calls']:.0%}")
        else:
            k, n = _count(_values(res, CEILING, "change-kept"))
            if n and k / n < CHECKS["sensitivity"]:
                failed.append(f"change read: same-scanner sensitivity {k}/{n} < 7/8")
    if failed:
        blocks += [Paragraph(spans(("Instrument checks failed", "bold"), " (the metrics they feed — " + FEEDS
                                   + " — carry this caveat):")),
                   Bullets(tuple(spans(f) for f in failed))]
    else:
        blocks.append(Paragraph(spans("All instrument checks passed.")))
    return blocks, failed


def rate_cell(k: int, n: int) -> Cell:
    """:func:`fmt_rate` of k/n as a cell whose value is the proportion."""
    return Cell(fmt_rate(k, n), k / n if n else None)


def change_table(summary: pd.DataFrame, test_set: str, near_identity: Collection[str] = (), *,
                 order: RankOrder | None = None, rankings: Mapping[str, Ranking] | None = None) -> Table | Paragraph:
    """Per run: false progression on A, or change kept on B, scored against the truth.

    Rates with exact 95 % CIs and exact McNemar P vs the original FU; size-only next to combined.
    On B, "kept" for the size call also requires the true direction (``change-kept``). The note
    under the table says which direction is better. A run with several seeds shows its rate over
    seeds and cases with the two-level bootstrap CI of ``rankings`` (endpoint key -> ranking)
    instead of an exact CI of a count. Methods follow ``order`` with a "group" column.
    """
    s = summary[summary["test_set"] == test_set]
    if not set(s["metric"]) & {"change-size", "change-any"}:
        return Paragraph(spans(("no change reads", "em")))
    calls = [("change-size", "size only"), ("change-any", "combined")]
    if test_set == "B":
        calls = [("change-kept", kept_label(s)), ("change-any", "combined")]
    what = "false progression" if test_set == "A" else "change kept"
    note = (spans("Every test-A lesion is stable (truth): a 'changed' call is a ", ("false progression", "bold"),
                  "; lower is better.") if test_set == "A" else
            spans("Every test-B target lesion really changed (truth, ±20–60 % volume): a call that misses it, or "
                  "calls the wrong direction, means the change was ", ("erased", "bold"), "; higher is better. FU2 "
                  "(same scanner, same lesion as FU) is the ceiling."))
    group = (f"group ({order.endpoint})",) if order is not None else ()
    table = Table(("run", *group, *(c for _, name in calls for c in (f"{what}: {name} [95 % CI]", "P"))),
                  notes=(note,))
    runs = order.sort(run_order(s)) if order is not None else run_order(s)
    for run in runs:
        cells: list[Cell | str] = [order.label(run) or "—"] if order is not None else []
        for metric, _ in calls:
            r = s[(s["run"] == run) & (s["metric"] == metric)]
            if r.empty or not np.isfinite(r["mean"].iloc[0]):
                cells += ["", ""]
                continue
            r = r.iloc[0]
            n = int(r["n"])
            boot = _seeded_rate(rankings, metric, run)
            cells += [boot or rate_cell(int(round(float(r["mean"]) * n)), n), p_cell(r["p_mcnemar"])]
        table.add(run_row(run, cells, near_identity))
    return table


def _seeded_rate(rankings: Mapping[str, Ranking] | None, metric: str, run: str) -> Cell | None:
    """``p % [lo, hi] (k seeds)`` from the two-level bootstrap when ``run`` has several seeds, else None."""
    rk = (rankings or {}).get(metric)
    st = next((r for r in rk.runs if r.run == run), None) if rk is not None else None
    if st is None or st.n_seeds < 2 or not math.isfinite(st.mean):
        return None
    return Cell(f"{100 * st.mean:.0f} % [{100 * st.ci_lo:.0f}, {100 * st.ci_hi:.0f}] ({st.n_seeds} seeds)", st.mean)


def failed_checks(results: pd.DataFrame, test_sets: Collection[str]) -> dict[str, list[str]]:
    """Failed instrument checks per test set (empty lists when all pass or no ground truth)."""
    return {ts: instrument_table(results, ts)[1] for ts in test_sets}
