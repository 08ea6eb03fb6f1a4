"""The instrument table and the truth-scored change table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmbench.leaderboard import instruments
from harmbench.leaderboard.instruments import binom_ci, fmt_rate
from harmbench.leaderboard.summary import summarize
from harmbench.leaderboard.table import to_markdown


def instrument_table(results: pd.DataFrame, test_set: str) -> tuple[str, list[str]]:
    blocks, failed = instruments.instrument_table(results, test_set)
    return (to_markdown(blocks) if blocks else ""), failed


def _results(test_set: str, bl_err, fu2_calls, fu2_kept=None, fu2_dv_err=None) -> pd.DataFrame:
    rows = []
    n = len(bl_err)
    for i in range(n):
        case = f"c{i:02d}"

        def add(run, metric, value):
            rows.append(dict(test_set=test_set, run=run, method=run, case=case, metric=metric, region="",
                             value=value))

        add("original-fu", "lesion-volume-error-bl", bl_err[i])
        add("original-fu", "lesion-volume-error", 0.05)
        add("original-fu", "lesion-truth-dice", 0.8)
        add("original-fu", "change-any", 1.0)
        add("same-scanner-fu2", "lesion-volume-error", bl_err[i])
        add("same-scanner-fu2", "lesion-truth-dice", 0.9)
        add("same-scanner-fu2", "lesion-volume-change-error", 0.02 if fu2_dv_err is None else fu2_dv_err[i])
        add("same-scanner-fu2", "change-any", fu2_calls[i])
        add("same-scanner-fu2", "change-size", fu2_calls[i])
        add("m", "change-any", 0.0)
        add("m", "change-size", 0.0)
        if fu2_kept is not None:
            add("same-scanner-fu2", "change-kept", fu2_kept[i])
            add("m", "change-kept", 0.0)
            add("original-fu", "change-kept", 1.0)
    return pd.DataFrame(rows)


def test_binomial_ci_is_exact_clopper_pearson():
    lo, hi = binom_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.30850, abs=1e-4)     # 1 - 0.025**(1/10)
    assert fmt_rate(1, 10).startswith("1/10 (10 %) [0, 45]")


def test_passing_instruments_say_so():
    md, failed = instrument_table(_results("A", [0.05] * 10, [0.0] * 10), "A")
    assert failed == []
    assert "All instrument checks passed" in md
    assert "| BL | 10 | 5.0 % | 5.0 % | 10/10 |" in md
    assert "0/10 (0 %) [0, 31]" in md


def test_failing_instruments_are_flagged():
    md, failed = instrument_table(_results("A", [0.05] * 9 + [0.30], [0.0] * 8 + [1.0, 1.0],
                                           fu2_dv_err=[0.0] * 9 + [0.2]), "A")
    assert any(f.startswith("lesion volume: 1/10") for f in failed)
    assert any(f.startswith("lesion ΔV/V: 1/10") for f in failed)
    assert any("false-call rate 2/10" in f for f in failed)
    assert "Instrument checks failed" in md


def test_sensitivity_check_on_changed_pairs():
    _, failed = instrument_table(_results("B", [0.0] * 8, [1.0] * 8, fu2_kept=[1.0] * 6 + [0.0] * 2), "B")
    assert any("sensitivity 6/8" in f for f in failed)
    _, ok = instrument_table(_results("B", [0.0] * 8, [1.0] * 8, fu2_kept=[1.0] * 7 + [0.0]), "B")
    assert ok == []


def test_no_ground_truth_no_table():
    res = _results("A", [0.0] * 3, [0.0] * 3)
    res = res[~res["metric"].str.startswith("lesion-volume-error")]
    assert instrument_table(res, "A") == ("", [])


def test_change_table_scores_against_truth_with_cis_and_mcnemar():
    s = summarize(_results("B", [0.0] * 8, [1.0] * 8, fu2_kept=[1.0] * 8))
    md = to_markdown(instruments.change_table(s, "B"))
    row = next(line for line in md.splitlines() if line.startswith("| m |"))
    assert "0/8 (0 %) [0, 37]" in row                 # change kept: none
    assert "| .008 |" in row                          # exact McNemar vs original FU (8 discordant pairs)
    assert "erased" in md
    assert np.isnan(s[(s["run"] == "same-scanner-fu2") & (s["metric"] == "change-kept")]["p_mcnemar"]).all()


def test_failed_instrument_flags_the_lesion_and_change_tables():
    from harmbench.leaderboard.markdown import render_markdown

    res = _results("A", [0.05] * 9 + [0.30], [0.0] * 10)
    out = render_markdown(summarize(res), "A", "toy", res)
    for stem in ("table5-lesion-testA", "table5-change-testA"):
        assert "Instrument check failed" in out[stem]
    assert "table6-instruments-testA" in out
    ok = _results("A", [0.05] * 10, [0.0] * 10)
    assert "Instrument check failed" not in render_markdown(summarize(ok), "A", "toy", ok)["table5-change-testA"]


def test_the_kept_label_names_new_lesions_only_when_the_data_have_them():
    from harmbench.leaderboard.instruments import kept_label

    rows = pd.DataFrame({"metric": ["change-kept", "change-new-lesion"], "value": [1.0, np.nan]})
    assert kept_label(rows) == "size, true direction"
    rows.loc[1, "value"] = 0.0
    assert kept_label(rows) == "size, true direction; new lesions seen"
    summary = pd.DataFrame({"metric": ["change-new-lesion"], "mean": [1.0]})
    assert kept_label(summary).endswith("new lesions seen")
    assert kept_label(pd.DataFrame({"metric": [], "value": []})) == "size, true direction"


def test_the_table_says_how_bl_was_measured():
    def meta(segmenter):
        return {"metrics": {"change-read": {"policy": {"segmenter": segmenter}}}}

    assert instruments.bl_anchored(meta({"model_fit_version": 2, "anchor": True})) is True
    assert instruments.bl_anchored(meta({"model_fit_version": 1})) is False   # before the anchor existed
    assert instruments.bl_anchored(meta({"version": 2})) is False             # half-maximum version 2
    assert instruments.bl_anchored({}) is None
    res = _results("A", [0.05] * 10, [0.0] * 10)
    texts = {a: to_markdown(instruments.instrument_table(res, "A", a)[0]) for a in (True, False, None)}
    assert "BL lesion mask" in texts[True] and "BL lesion mask" not in texts[False]
    assert "measured BL from its image" in texts[False]
    assert "BL lesion mask" not in texts[None] and "measured BL" not in texts[None]
