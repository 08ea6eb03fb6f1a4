from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmbench.leaderboard.markdown import leaderboard_documents
from harmbench.leaderboard.render import render_leaderboards
from harmbench.leaderboard.summary import summarize
from harmbench.leaderboard.table import to_markdown
from harmbench.metrics.scanner_features import FEATURE, SUBJECT

N_CASES = 10
#: run -> (shift of the scored image's features from BL's, relative tissue-volume error)
RUNS = {"original-fu": (3.0, 0.20), "good": (0.0, 0.02), "same-scanner-fu2": (0.0, 0.0)}


def downstream_results(seed: int = 0) -> pd.DataFrame:
    """Feature rows (4 features, subject-specific anatomy + a run's scanner shift) and GM volume rows."""
    rng = np.random.default_rng(seed)
    anatomy = rng.normal(0, 1, (N_CASES, 4))
    gm_bl = 500 + 50 * rng.normal(0, 1, N_CASES)
    rows = []
    for run, (shift, err) in RUNS.items():
        for i in range(N_CASES):
            case = f"c{i:02d}"
            values = [(SUBJECT, "", float(i))]
            values += [(FEATURE, f"bl:f{k}", anatomy[i, k]) for k in range(4)]
            values += [(FEATURE, f"fu:f{k}", anatomy[i, k] + shift) for k in range(4)]
            gm = gm_bl[i] * (1 + err * (1 if i % 2 else -1))
            values += [("tissue-volume-bl", "gm", gm_bl[i]), ("tissue-volume", "gm", gm),
                       ("tissue-volume-diff", "gm", 100 * abs(gm - gm_bl[i]) / gm_bl[i]),
                       ("tissue-dice", "gm", 1 - err)]
            rows += [dict(test_set="A", run=run, method=run, case=case, metric=m, region=r, value=v)
                     for m, r, v in values]
    return pd.DataFrame(rows)


def test_summary_has_auc_and_icc_rows_with_cis_and_no_feature_rows():
    s = summarize(downstream_results()).set_index(["run", "metric", "region"])
    assert not s.index.get_level_values("metric").isin([FEATURE, SUBJECT]).any()
    auc = s.xs(("scanner-auc", ""), level=("metric", "region"))
    assert auc.loc["original-fu", "mean"] == pytest.approx(1.0)
    assert auc.loc["same-scanner-fu2", "mean"] == pytest.approx(0.5)
    assert auc.loc["good", "diff_mean"] == pytest.approx(-0.5)
    assert (auc["ci_lo"] <= auc["mean"]).all() and (auc["mean"] <= auc["ci_hi"]).all()
    assert (auc["n"] == N_CASES).all()
    icc = s.xs(("tissue-icc", "gm"), level=("metric", "region"))
    assert icc.loc["same-scanner-fu2", "mean"] == pytest.approx(1.0)
    assert icc.loc["original-fu", "mean"] < icc.loc["good", "mean"] < 1.0
    # per-case metrics keep their ordinary statistics (and no CI columns)
    diff = s.loc[("good", "tissue-volume-diff", "gm")]
    assert diff["mean"] == pytest.approx(2.0) and diff["p_wilcoxon"] < 0.01 and np.isnan(diff["ci_lo"])


def test_downstream_table_and_figure_reach_markdown_and_report(tmp_path):
    results = downstream_results()
    docs = leaderboard_documents(summarize(results), "A", "toy")
    md = to_markdown(docs["table7-downstream-testA"])
    assert "scanner AUC [95 % CI]" in md and "| gm |" in md
    assert "1.000 [1.000, 1.000]" in md                     # the original FU is told apart every time
    results.to_csv(tmp_path / "results.csv", index=False)
    written = {p.name for p in render_leaderboards(tmp_path)}
    assert "table7-downstream-testA.md" in written
    html = (tmp_path / "report.html").read_text()
    assert "scanner AUC and tissue volumes test A" in html and "scanner AUC [95 % CI]" in html
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"ci_lo", "ci_hi"} <= set(summary.columns) and "scanner-auc" in set(summary["metric"])


def test_floor_caveat_only_when_the_same_scanner_rescan_is_told_apart():
    import pandas as pd

    from harmbench.leaderboard.downstream import AUC, floor_caveat
    from harmbench.leaderboard.names import CEILING

    def summary(lo):
        return pd.DataFrame([{"run": CEILING, "metric": AUC, "mean": 0.9, "ci_lo": lo, "ci_hi": 1.0}])

    assert floor_caveat(summary(0.45)) is None          # FU2 not told apart from BL: the instrument holds
    text = floor_caveat(summary(0.8))
    assert text is not None and "0.900" in text and "0.800" in text and "\n" not in text
    assert floor_caveat(pd.DataFrame(columns=["run", "metric", "mean", "ci_lo", "ci_hi"])) is None
