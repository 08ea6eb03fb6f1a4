"""Leaderboard Markdown built from a hand-made summary."""

from __future__ import annotations

import pandas as pd

from harmbench.leaderboard.markdown import cnr_parts_table


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
    assert cnr_parts_table(_summary([("m", "cnr-diff", "caudate", 0.1)])) == ""   # no reference run
