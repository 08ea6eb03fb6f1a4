"""The leaderboard's documents, mirroring the paper's Tables 2-5, one set per test set.

Every file is built as a :class:`harmbench.leaderboard.table.Document` of :class:`Table` objects;
:func:`render_markdown` renders them to the committed Markdown, :mod:`harmbench.leaderboard.report`
to HTML and :func:`harmbench.console.rich_table` to the terminal.

Bolding rule (all tables): the best run in a column is bold only if it is a method run (not a
reference row), is not "≈ identity" (:func:`harmbench.leaderboard.summary.near_identity_runs`) and
beats the original FU by at least the metric's minimal meaningful difference with a 95 % CI that
excludes 0 (:func:`harmbench.leaderboard.summary.meaningful_improvement`); otherwise the column has
no bold. Runs that are ≈ identity carry " (≈ identity)" after their name in every table.

Row order: the original FU first, then the methods sorted by their rank on the table's endpoint
(:data:`harmbench.leaderboard.ranking.SORT_BY`) with their rank group in a "group" column
(``"2 (tie)"`` when the group is shared), and the same-scanner FU2 last. Without a ranking (no
values for that endpoint) methods are in natural name order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

import pandas as pd

from harmbench.leaderboard.cells import fmt_diff, is_diagnostic, mean_cell, number, p_cell, run_order, run_row
from harmbench.leaderboard.cells import run_column
from harmbench.leaderboard.downstream import downstream_blocks
from harmbench.leaderboard.instruments import change_table as instrument_change_table
from harmbench.leaderboard.instruments import instrument_table
from harmbench.leaderboard.ranking import (SORT_BY, Endpoint, RankOrder, change_endpoint, rank_order,
                                           ranking_blocks)
from harmbench.leaderboard.ranking import rankings as compute_rankings
from harmbench.ranking import Ranking
from harmbench.leaderboard.summary import (BASELINE, CEILING, IDENTITY_RMS_FLOOR, INPUT_CHANGE, higher_is_better,
                                           meaningful_improvement, min_meaningful, near_identity_runs)
from harmbench.leaderboard.table import (Block, Cell, Document, Heading, Paragraph, Span, Table, spans,
                                         to_markdown)

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
HEADLINE_TITLE = "harmbench — volume PSNR / SSIM vs BL, change-call rate"
#: the metrics :func:`headline` reads (the "≈ identity" flag comes from the input's RMS change)
HEADLINE_METRICS = ("psnr", "ssim", "change-any", INPUT_CHANGE)


def _near_identity(summary: pd.DataFrame) -> set[str]:
    """≈ identity runs over every test set present in ``summary`` (tables get one test set)."""
    if "test_set" not in summary:
        return set()
    return set().union(*(near_identity_runs(summary, ts) for ts in set(summary["test_set"])))


def _digits(metric: str) -> int:
    return 2 if "psnr" in metric or "hd" in metric else 3


def _unit(metric: str) -> str:
    return " dB" if "psnr" in metric else " mm" if "hd" in metric else ""


def bold_run(rows: pd.DataFrame, metric: str, near_identity: Collection[str]) -> str | None:
    """The run to bold among ``rows`` (one metric and region), or None (see the module docstring).

    The best mean is taken over every row except the ceiling, so that a column where the original
    FU itself is best has no bold.
    """
    hib = higher_is_better(metric)
    cand = rows[~rows["run"].isin([CEILING]) & ~rows["run"].map(is_diagnostic)].dropna(subset=["mean"])
    if cand.empty or hib is None:
        return None
    best = cand.loc[cand["mean"].idxmax() if hib else cand["mean"].idxmin()]
    if best["run"] == BASELINE or best["run"] in near_identity or not meaningful_improvement(best, metric):
        return None
    return str(best["run"])


def bold_rule(metrics: list[str]) -> tuple[Span, ...]:
    """Caption sentence stating the effect-size columns and the bolding rule for ``metrics``."""
    mmd = ", ".join(f"{m} {min_meaningful(m):g}{_unit(m)}" for m in metrics
                    if higher_is_better(m) is not None)
    return spans(f"A run is marked '≈ identity' when its output differs from its input by an RMS below "
                 f"{IDENTITY_RMS_FLOOR:g} of the [0, 1] intensity range (mean ", ("input-rms-change", "code"),
                 "); such runs are never bold. "
                 "The best run is bold only if it beats the original FU by at least the minimal meaningful "
                 f"difference ({mmd}) with a 95 % CI of the paired difference that excludes 0; "
                 "otherwise no value in that column is bold.")


def _idents(summary: pd.DataFrame, near_identity: Collection[str] | None) -> set[str]:
    return _near_identity(summary) if near_identity is None else set(near_identity)


def _empty(text: str) -> Paragraph:
    return Paragraph(spans((text, "em")))


def _order(runs: list[str], order: RankOrder | None) -> list[str]:
    return order.sort(runs) if order is not None else runs


def _group_column(order: RankOrder | None) -> tuple[str, ...]:
    return (f"group ({order.endpoint})",) if order is not None else ()


def _group_cell(run: str, order: RankOrder | None) -> list[Cell | str]:
    return [order.label(run) or "—"] if order is not None else []


def metric_table(summary: pd.DataFrame, metrics: list[str], *,
                 near_identity: Collection[str] | None = None, order: RankOrder | None = None) -> Table | Paragraph:
    """Rows = runs; per metric: mean ± SD, Δ vs original FU [95 % CI], Wilcoxon P vs original FU.

    Args:
        summary: output of :func:`harmbench.leaderboard.summary.summarize` for one test set.
        metrics: metric names to show (those absent from ``summary`` are dropped).
        near_identity: runs to mark "≈ identity"; computed from ``summary`` when None.
        order: rank order and groups to sort the methods by (a "group" column after the run).

    Returns:
        The table, or a paragraph saying there are no values.
    """
    metrics = [m for m in metrics if m in set(summary["metric"])]
    if not metrics:
        return _empty("no values for these metrics")
    ident = _idents(summary, near_identity)
    s = summary[summary["region"] == ""]
    table = Table(("run", *_group_column(order), *(c for m in metrics for c in (m, "Δ vs FU [95 % CI]", "P"))))
    best = {m: bold_run(s[s["metric"] == m], m, ident) for m in metrics}
    for run in _order(run_order(s), order):
        cells: list[Cell | str] = _group_cell(run, order)
        for m in metrics:
            r = s[(s["run"] == run) & (s["metric"] == m)]
            if r.empty:
                cells += ["", "", ""]
                continue
            r = r.iloc[0]
            cells += [mean_cell(r["mean"], r["sd"], _digits(m), bold=best[m] == run),
                      Cell(fmt_diff(r, _digits(m)), number(r.get("diff_mean"))), p_cell(r["p_wilcoxon"])]
        table.add(run_row(run, cells, ident))
    return table


def cnr_table(summary: pd.DataFrame, *, near_identity: Collection[str] | None = None,
              order: RankOrder | None = None) -> Table | Paragraph:
    """Table 4 analogue: rows = regions, columns = runs; |CNR_BL - CNR_FU| mean ± SD (paired t-test P).

    Bolding follows the module rule with the ``cnr-diff`` minimal meaningful difference. Run columns
    follow ``order`` (rank of the mean |ΔCNR| over regions); the last row gives each run's group.
    """
    s = summary[summary["metric"] == "cnr-diff"]
    if s.empty:
        return _empty("no CNR values (dataset has no label maps)")
    ident = _idents(summary, near_identity)
    runs = _order(run_order(s), order)
    table = Table(("region", *(c for r in runs for c in (run_column(r, ident), "P"))))
    for region in sorted(set(s["region"])):
        sub = s[s["region"] == region]
        best = bold_run(sub, "cnr-diff", ident)
        cells: list[Cell | str] = [region]
        for run in runs:
            r = sub[sub["run"] == run]
            if r.empty:
                cells += ["", ""]
                continue
            r = r.iloc[0]
            cells += [mean_cell(r["mean"], r["sd"], bold=run == best), p_cell(r["p_ttest"])]
        table.add(cells)
    if order is not None:
        table.add([f"group ({order.endpoint})", *(c for run in runs for c in (order.label(run) or "—", ""))])
    return table


def cnr_parts_table(summary: pd.DataFrame, *, near_identity: Collection[str] | None = None,
                    order: RankOrder | None = None) -> list[Block]:
    """Per run: regions whose mean |ΔCNR| is below the original FU's, and what the differences are made of.

    The parts are those of :class:`harmbench.metrics.cnr.RegionalCnr`: ``cnr-contrast-shift`` and
    ``cnr-noise-shift`` (shown as the mean over regions of the absolute per-region mean) and
    ``cnr-noise-ratio`` (median over regions). Empty without the original FU's values.
    """
    s = summary[summary["metric"].str.startswith("cnr-")]
    diff = s[s["metric"] == "cnr-diff"].pivot_table(index="run", columns="region", values="mean")
    if diff.empty or BASELINE not in diff.index:
        return []
    ref = diff.loc[BASELINE]
    ident = _idents(summary, near_identity)
    table = Table(("run", *_group_column(order), "regions with a smaller CNR difference than original FU",
                   "mean CNR difference", "contrast shift", "noise shift", "background SD / BL's"))
    for run in _order(run_order(s), order):
        if run not in diff.index:
            continue
        row = diff.loc[run]
        valid = row.notna() & ref.notna()
        smaller = int((row[valid] < ref[valid]).sum())
        count = Cell("—") if run == BASELINE else Cell(f"{smaller}/{int(valid.sum())}", float(smaller))
        cells = [*_group_cell(run, order), count, mean_cell(row.mean())]
        for m in ("cnr-contrast-shift", "cnr-noise-shift"):
            cells.append(mean_cell(s[(s["run"] == run) & (s["metric"] == m)]["mean"].abs().mean()))
        cells.append(mean_cell(s[(s["run"] == run) & (s["metric"] == "cnr-noise-ratio")]["mean"].median()))
        table.add(run_row(run, cells, ident))
    return [Heading("What the differences are made of", 2),
            Paragraph(spans("CNR = contrast / background SD. The signed difference CNR_FU − CNR_BL splits into a "
                            "contrast shift, (contrast_FU − contrast_BL) / SD_BL, and a noise shift, contrast_FU · "
                            "(1/SD_FU − 1/SD_BL). Shifts: mean over regions of the absolute per-region mean; "
                            "background SD / BL's: median over regions (1 = BL's noise level). A run that matches "
                            "BL's contrast but smooths away noise keeps a large noise shift.")),
            table]


Rankings = Mapping[tuple[str, str], tuple[Endpoint, Ranking]]


def headline(summary: pd.DataFrame, test_sets: Iterable[str], ranked: Rankings | None = None) -> Table:
    """Per test set and run: PSNR rank group, volume PSNR [95 % CI], SSIM and change-call rate
    (the terminal summary). Methods sorted by their PSNR rank; without ``ranked``, by name."""
    table = Table(("test set", "run", "PSNR group", "PSNR (dB) [95 % CI]", "SSIM", "changed calls"),
                  title=HEADLINE_TITLE)
    for ts in test_sets:
        s = summary[(summary["test_set"] == ts) & (summary["region"].isin(["", None]))]
        ident = near_identity_runs(summary, ts)
        order = rank_order(ranked, ts, "psnr") if ranked else None
        psnr_stats = {r.run: r for r in ranked[(ts, "psnr")][1].runs} if ranked and (ts, "psnr") in ranked else {}
        for run in _order(run_order(s), order):
            def mean(metric: str) -> float:
                r = s[(s["run"] == run) & (s["metric"] == metric)]
                return float(r["mean"].iloc[0]) if not r.empty else float("nan")

            psnr, ssim, change = mean("psnr"), mean("ssim"), mean("change-any")
            st = psnr_stats.get(run)
            ci = f" [{st.ci_lo:.2f}, {st.ci_hi:.2f}]" if st is not None and math.isfinite(st.ci_lo) else ""
            group = (order.label(run) if order is not None else "") or "—"
            table.add(run_row(run, [group, Cell(f"{psnr:.2f}{ci}", number(psnr)), Cell(f"{ssim:.3f}", number(ssim)),
                                    Cell(f"{change:.2f}", number(change))], ident, before=[str(ts)]))
    return table


def _sort_key(stem: str, test_set: str) -> str | None:
    return change_endpoint(test_set) if stem == "table5-change" else SORT_BY.get(stem)


def leaderboard_documents(summary: pd.DataFrame, test_set: str, dataset: str,
                          results: pd.DataFrame | None = None, ranked: Rankings | None = None,
                          unseeded: Collection[str] = (), anchored: bool | None = None) -> dict[str, Document]:
    """Return {file stem: document} for one test set (instrument checks need ``results``).

    Rankings (``ranked``, from :func:`harmbench.leaderboard.ranking.rankings`) sort the tables and
    give the ``table8-ranking`` document; they are computed from ``results`` when not given.
    ``unseeded``: runs recorded without a seed in a schema-2 file (methods that do not learn).
    ``anchored``: how the lesion segmenter measured BL (:func:`~harmbench.leaderboard.instruments.bl_anchored`).
    """
    if ranked is None and results is not None:
        ranked = compute_rankings(results)
    ranked = ranked or {}
    s = summary[summary["test_set"] == test_set]
    ident = near_identity_runs(summary, test_set)
    out: dict[str, Document] = {}
    desc = "stable lesions" if test_set == "A" else "lesions that really changed"
    ds = ("Dataset ", (dataset, "code"))
    seeds_note = ("Runs with several training seeds: per-case values are averaged over seeds first; "
                  "mean ± SD over cases of those averages. ")
    for stem, (title, metrics) in TABLES.items():
        shown = [m for m in metrics if m in set(s["metric"])]
        order = rank_order(ranked, test_set, _sort_key(stem, test_set))
        intro = spans(*ds, f", test set {test_set} ({desc}). Mean ± SD over cases; Δ vs FU: mean paired "
                      "difference from the original FU with its 95 % t-interval; P: Wilcoxon signed-rank vs "
                      "original FU. ", seeds_note, *_sort_note(order), *bold_rule(shown))
        out[f"{stem}-test{test_set}"] = Document([Heading(title), Paragraph(intro),
                                                  metric_table(s, metrics, near_identity=ident, order=order)])
    order = rank_order(ranked, test_set, _sort_key("table4-cnr", test_set))
    intro = spans(*ds, f", test set {test_set}. Lower is better. P: paired t-test vs original FU (as in the "
                  "paper's Table 4 note; Wilcoxon P and the paired differences with 95 % CIs are in summary.csv). ",
                  seeds_note, *_sort_note(order), *bold_rule(["cnr-diff"]))
    out[f"table4-cnr-test{test_set}"] = Document([
        Heading("Table 4 analogue: regional |CNR_BL − CNR_FU|"), Paragraph(intro),
        cnr_table(s, near_identity=ident, order=order), *cnr_parts_table(s, near_identity=ident, order=order)])
    order = rank_order(ranked, test_set, _sort_key("table5-change", test_set))
    intro = spans(*ds, f", test set {test_set}. Rate of 'changed' calls against the truth, exact 95 % CIs (several "
                  "seeds: rate over seeds and cases with its two-level bootstrap CI); P: exact McNemar vs original FU "
                  "(several seeds: exact sign test on the per-case call rates averaged over seeds). Thresholds "
                  "calibrated on the train/val same-scanner pairs (runs.json, metric policy). ", *_sort_note(order))
    change_stats = {key: rk for (ts, key), (_, rk) in ranked.items() if ts == test_set}
    out[f"table5-change-test{test_set}"] = Document([
        Heading("Automated change read (reader-study surrogate)"), Paragraph(intro),
        instrument_change_table(s, test_set, ident, order=order, rankings=change_stats)])
    downstream = downstream_blocks(s, test_set, dataset, ident)
    if downstream:
        out[f"table7-downstream-test{test_set}"] = Document(downstream)
    blocks = ranking_blocks(ranked, test_set, dataset, ident, unseeded)
    if blocks:
        out[f"table8-ranking-test{test_set}"] = Document(blocks)
    if results is not None:
        blocks, failed = instrument_table(results, test_set, anchored)
        if failed:
            caveat = Paragraph(spans(("Instrument check failed on this test set", "bold"),
                                     " (table6-instruments): " + "; ".join(failed)
                                     + ". The numbers below carry that caveat."), quote=True)
            for stem in (f"table5-lesion-test{test_set}", f"table5-change-test{test_set}"):
                out[stem].blocks.insert(1, caveat)
        if blocks:
            intro = spans(*ds, f", test set {test_set}. The lesion segmenter and the change read, measured where "
                          "the truth is known.")
            out[f"table6-instruments-test{test_set}"] = Document([
                Heading("Instrument checks against the ground truth"), Paragraph(intro), *blocks])
    return out


def _sort_note(order: RankOrder | None) -> tuple[Span, ...]:
    if order is None:
        return ()
    return spans("Methods sorted by their rank on ", (order.endpoint, "code"), "; methods in one group are "
                 "tied (table8-ranking). ")


def render_markdown(summary: pd.DataFrame, test_set: str, dataset: str,
                    results: pd.DataFrame | None = None) -> dict[str, str]:
    """Return {file stem: markdown} for one test set (:func:`leaderboard_documents` rendered)."""
    return {stem: to_markdown(doc) for stem, doc in
            leaderboard_documents(summary, test_set, dataset, results).items()}
