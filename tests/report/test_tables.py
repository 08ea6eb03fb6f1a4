"""Leaderboard Markdown built from a hand-made summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmbench.leaderboard import markdown as tables
from harmbench.leaderboard.markdown import headline, render_markdown
from harmbench.leaderboard.summary import MIN_MEANINGFUL, near_identity_runs, summarize
from harmbench.leaderboard.table import to_markdown


def metric_table(*args, **kw) -> str:
    return to_markdown(tables.metric_table(*args, **kw))


def cnr_table(*args, **kw) -> str:
    return to_markdown(tables.cnr_table(*args, **kw))


def cnr_parts_table(*args, **kw) -> str:
    return to_markdown(tables.cnr_parts_table(*args, **kw))


def _summary(rows):
    return pd.DataFrame([{"test_set": "A", "run": run, "metric": m, "region": reg, "mean": v}
                         for run, m, reg, v in rows])


def test_cnr_parts_table_counts_regions_and_takes_median_ratios():
    rows = []
    for reg, fu, good in (("caudate", 0.5, 0.2), ("putamen", 0.4, 0.6), ("thalamus", 0.1, 0.05)):
        rows += [("original-fu", "cnr-diff", reg, fu), ("m", "cnr-diff", reg, good)]
    for reg, c, n, r in (("caudate", 0.1, -0.2, 0.8), ("putamen", -0.3, 0.4, 0.9), ("thalamus", 0.2, 0.0, 0.7)):
        rows += [("m", "cnr-contrast-shift", reg, c), ("m", "cnr-noise-shift", reg, n), ("m", "cnr-noise-ratio", reg, r)]
    md = cnr_parts_table(_summary(rows))
    # caudate and thalamus beat FU; mean difference 0.85/3; mean |shift| 0.6/3 and 0.6/3; median ratio 0.8
    assert "| m | 2/3 | 0.283 | 0.200 | 0.200 | 0.800 |" in md
    assert "| original FU (reference) | — | 0.333 | n/a | n/a | n/a |" in md
    assert tables.cnr_parts_table(_summary([("m", "cnr-diff", "caudate", 0.1)])) == []   # no reference run


T975_11 = 2.200985160091639          # Student t quantile, 0.975, 11 df (tables)


def _row(md: str, label: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {label} |"))


def test_near_identity_run_is_labelled_and_never_bold_despite_small_p(make_results):
    # X: output within 3e-4 RMS of its input, +0.01 dB on every case -> tiny P, still no improvement
    s = summarize(make_results({"X": (0.01, 0.001, 3e-4), "identity": (0.0, 0.0, 0.0),
                            "same-scanner-fu2": (5.0, 0.3, 0.1)}))
    x = s[(s["run"] == "X") & (s["metric"] == "psnr")].iloc[0]
    assert x["p_wilcoxon"] < 0.01 and x["diff_lo"] > 0
    assert near_identity_runs(s, "A") == {"X", "identity"}
    md = metric_table(s, ["psnr"])
    assert "**" not in md
    diff_cell = f"{x['diff_mean']:+.2f} [{x['diff_lo']:.2f}, {x['diff_hi']:.2f}]"
    assert _row(md, "X (≈ identity)").split(" | ")[2] == diff_cell
    assert "| identity (≈ identity) |" in md and "| original FU (reference) |" in md
    assert "| X (≈ identity) | P |" in cnr_table(s) and "**" not in cnr_table(s)
    assert "| A | X (≈ identity) |" in to_markdown(headline(s, ["A"]))
    assert "X (≈ identity)" in render_markdown(s, "A", "toy")["table3-volumewise-testA"]


def test_clear_improvement_is_bold_with_its_interval_and_small_one_is_not(make_results):
    s = summarize(make_results({"Y": (3.0, 0.3, 0.05), "Z": (0.2, 0.02, 0.02), "X": (0.01, 0.001, 3e-4)}))
    assert near_identity_runs(s, "A") == {"X"}
    y = s[(s["run"] == "Y") & (s["metric"] == "psnr")].iloc[0]
    assert y["diff_lo"] > 0                                    # the 95 % CI excludes 0
    md = metric_table(s, ["psnr"])
    assert _row(md, "Y") == (f"| Y | **{y['mean']:.2f} ± {y['sd']:.2f}** | "
                             f"{y['diff_mean']:+.2f} [{y['diff_lo']:.2f}, {y['diff_hi']:.2f}] | <.001 |")
    assert md.count("**") == 2
    # Z: +0.2 dB on every case (P < .001, CI excludes 0) but below the 0.5 dB minimal meaningful difference
    z_only = s[s["run"] != "Y"]
    z = z_only[(z_only["run"] == "Z") & (z_only["metric"] == "psnr")].iloc[0]
    assert z["p_wilcoxon"] < 0.001 and 0 < z["diff_lo"] and z["diff_mean"] < MIN_MEANINGFUL["psnr"]
    assert "**" not in metric_table(z_only, ["psnr"])
    # cnr-diff (lower is better): Y lowers it by 0.3 (> 0.05), Z by 0.02 (< 0.05)
    assert "| caudate | " in cnr_table(s) and cnr_table(s).count("**") == 2
    assert "**" not in cnr_table(z_only)


def test_difference_columns_are_the_paired_t_interval(make_results):
    res = make_results({"Y": (3.0, 0.3, 0.05)}, seed=4)
    s = summarize(res)
    psnr = res[res["metric"] == "psnr"].pivot(index="case", columns="run", values="value")
    d = (psnr["Y"] - psnr["original-fu"]).to_numpy()
    half = T975_11 * d.std(ddof=1) / np.sqrt(d.size)
    y = s[(s["run"] == "Y") & (s["metric"] == "psnr")].iloc[0]
    expected = (d.mean(), d.mean() - half, d.mean() + half)
    assert (y["diff_mean"], y["diff_lo"], y["diff_hi"]) == pytest.approx(expected)
    ref = s[s["run"] == "original-fu"]
    assert ref[["diff_mean", "diff_lo", "diff_hi"]].isna().all().all()
