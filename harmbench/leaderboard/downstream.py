"""Downstream answers: can a classifier still tell the scanner, do tissue volumes agree with BL?

Both are computed across the cases of a (test set, run), from the per-case rows in results.csv:

* ``scanner-auc`` (region ''): cross-validated scanner-classifier AUC, BL vs scored image
  (:func:`harmbench.metrics.scanner_classifier.scanner_auc`; ``n`` = subjects, ``ci_lo``/``ci_hi``
  = subject-bootstrap 95 % CI, ``diff_mean`` = AUC − the original FU's AUC);
* ``tissue-icc`` (region = tissue or structure): ICC(2,1) of the volumes of BL and the scored
  image across cases (:func:`harmbench.stats.icc_agreement`; ``n`` = cases, ``ci_lo``/``ci_hi`` = its 95 % CI).

They become rows of summary.csv (:func:`harmbench.leaderboard.summary.summarize`), a
``table7-downstream-test{A,B}`` document and a report figure.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harmbench.leaderboard.cells import fmt_mean_sd, mean_cell, number, run_column, run_order, run_row
from harmbench.leaderboard.names import BASELINE, CEILING
from harmbench.leaderboard.table import Block, Cell, Heading, Paragraph, Table, spans
from harmbench.metrics.scanner_classifier import scanner_auc
from harmbench.metrics.scanner_features import FEATURE, SUBJECT
from harmbench.metrics.tissue import TISSUES
from harmbench.stats import icc_agreement

AUC = "scanner-auc"
ICC = "tissue-icc"
#: per-case rows that only feed the across-case statistics (no per-metric statistics of their own)
FEATURE_METRICS = (FEATURE, SUBJECT)
AUC_NOTE = ("Scanner classifier: logistic regression on intensity-histogram and GLCM-texture features of the "
            "brain (lesions excluded), BL vs the scored image, 5-fold cross-validation grouped by subject; AUC "
            "of the out-of-fold probabilities with a subject-bootstrap 95 % CI. 0.5 = the scanner can no longer "
            "be told apart; the original FU is the reference, the same-scanner FU2 the floor.")
TISSUE_NOTE = ("Tissue volumes: one fixed 3-class Gaussian-mixture segmenter (CSF < GM < WM) applied to BL and to "
               "each image; structures = label-map structure voxels of their expected tissue class. Per run: "
               "|V − V_BL| / V_BL in % (mean ± SD over cases; lower is better), Dice with BL's segmentation, "
               "ICC(2,1) of the volumes across cases. The original FU's disagreement is what a method should "
               "shrink.")


def icc(bl: pd.Series, fu: pd.Series) -> tuple[float, float, float, int]:
    """(ICC(2,1), CI low, CI high, n cases) of paired volumes indexed by case (NaNs below 3 cases)."""
    both = pd.concat({"bl": bl, "fu": fu}, axis=1).dropna()
    n = len(both)
    if n < 3 or float(both.to_numpy().std()) == 0.0:
        return math.nan, math.nan, math.nan, n
    value, lo, hi = icc_agreement(both.to_numpy(dtype=np.float64))
    return value, lo, hi, n


def downstream_summary(results: pd.DataFrame) -> pd.DataFrame:
    """``scanner-auc`` and ``tissue-icc`` rows (summary columns; module docstring); empty without inputs."""
    out = []
    for (ts, run), g in results.groupby(["test_set", "run"], sort=True):
        method = g["method"].iloc[0]
        if (g["metric"] == FEATURE).any():
            a = scanner_auc(g)
            out.append({"test_set": ts, "run": run, "method": method, "metric": AUC, "region": "", "n": a["n"],
                        "mean": a["auc"], "ci_lo": a["ci_lo"], "ci_hi": a["ci_hi"]})
        vols = g[g["metric"].isin(["tissue-volume", "tissue-volume-bl"])]
        for region, r in vols.groupby("region", sort=True):
            series = {m: r[r["metric"] == m].set_index("case")["value"].astype(float) for m in
                      ("tissue-volume-bl", "tissue-volume")}
            value, lo, hi, n = icc(series["tissue-volume-bl"], series["tissue-volume"])
            out.append({"test_set": ts, "run": run, "method": method, "metric": ICC, "region": region, "n": n,
                        "mean": value, "ci_lo": lo, "ci_hi": hi})
    df = pd.DataFrame(out)
    if df.empty:
        return df
    base = df[df["run"] == BASELINE].set_index(["test_set", "metric", "region"])["mean"]
    key = pd.MultiIndex.from_frame(df[["test_set", "metric", "region"]])
    df["diff_mean"] = np.where(df["run"] == BASELINE, np.nan, df["mean"].to_numpy() - base.reindex(key).to_numpy())
    return df


def _ci_cell(r: pd.Series, digits: int = 3) -> Cell:
    v = number(r["mean"])
    if v is None:
        return Cell("n/a")
    lo, hi = number(r.get("ci_lo")), number(r.get("ci_hi"))
    ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else ""
    return Cell(f"{v:.{digits}f}{ci}", v)


def auc_table(summary: pd.DataFrame, near_identity: set[str]) -> Table | None:
    """Per run: scanner AUC [95 % CI], its difference from the original FU's, subjects."""
    s = summary[summary["metric"] == AUC]
    if s.empty:
        return None
    table = Table(("run", "scanner AUC [95 % CI]", "Δ vs FU", "subjects"))
    for run in run_order(s):
        r = s[s["run"] == run].iloc[0]
        d = number(r.get("diff_mean"))
        table.add(run_row(run, [_ci_cell(r), Cell("" if d is None else f"{d:+.3f}", d),
                                Cell(str(int(r["n"])), float(r["n"]))], near_identity))
    return table


def tissue_table(summary: pd.DataFrame, near_identity: set[str]) -> Table | None:
    """Rows = tissues then structures; per run: |ΔV| % (mean ± SD), Dice vs BL (mean), ICC(2,1)."""
    s = summary[summary["metric"].isin(["tissue-volume-diff", "tissue-dice", ICC])]
    if s.empty:
        return None
    runs = run_order(s)
    present = set(s["region"])
    regions = [t for t in TISSUES if t in present] + sorted(present - set(TISSUES))
    table = Table(("region", *(c for run in runs for c in
                               (run_column(run, near_identity), "Dice", "ICC"))))
    for region in regions:
        cells: list[Cell | str] = [region]
        for run in runs:
            row = s[(s["run"] == run) & (s["region"] == region)].set_index("metric")
            diff = row.loc["tissue-volume-diff"] if "tissue-volume-diff" in row.index else None
            cells.append(Cell(fmt_mean_sd(diff["mean"], diff["sd"], 1) + " %", number(diff["mean"]))
                         if diff is not None else Cell(""))
            cells.append(mean_cell(row.loc["tissue-dice", "mean"]) if "tissue-dice" in row.index else Cell(""))
            cells.append(mean_cell(row.loc[ICC, "mean"]) if ICC in row.index else Cell(""))
        table.add(cells)
    return table


def floor_caveat(summary: pd.DataFrame) -> str | None:
    """A caveat when the classifier separates BL from the same-scanner FU2 (CI above 0.5).

    FU2 comes from BL's scanner, so an AUC clearly above 0.5 there means the features pick up
    processing differences (FU and FU2 are resampled onto BL's grid, BL is not; each image is
    scaled on its own percentiles), not only the scanner: read the runs against the FU2 row.
    """
    r = summary[(summary["metric"] == AUC) & (summary["run"] == CEILING)]
    if r.empty or not np.isfinite(r.iloc[0].get("ci_lo", np.nan)) or r.iloc[0]["ci_lo"] <= 0.5:
        return None
    row = r.iloc[0]
    return (f"Instrument check failed: the classifier tells BL from the same-scanner FU2 (AUC {row['mean']:.3f}, "
            f"95 % CI from {row['ci_lo']:.3f}), so it also detects processing (FU and FU2 are resampled onto "
            "BL's grid, BL is not), not only the scanner. Read each run's AUC against the FU2 row, not against 0.5.")


def downstream_blocks(summary: pd.DataFrame, test_set: str, dataset: str,
                      near_identity: set[str]) -> list[Block]:
    """The ``table7-downstream`` document's blocks for one test set ([] without downstream values)."""
    auc, tissue = auc_table(summary, near_identity), tissue_table(summary, near_identity)
    if auc is None and tissue is None:
        return []
    blocks: list[Block] = [Heading("Downstream: can a classifier tell the scanner, do tissue volumes agree?")]
    if auc is not None:
        blocks += [Paragraph(spans("Dataset ", (dataset, "code"), f", test set {test_set}. {AUC_NOTE}"))]
        caveat = floor_caveat(summary)
        if caveat:
            blocks.append(Paragraph(spans(caveat), quote=True))
        blocks.append(auc)
    if tissue is not None:
        blocks += [Paragraph(spans(TISSUE_NOTE)), tissue]
    return blocks

