"""Diagnostic methods (issue #21 item 3): copy-reference tops similarity and erases change; the
leaderboards show diagnostics but never rank or bold them."""

from __future__ import annotations

import json

import pandas as pd

from harmbench import registry
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.runspec import parse_specs

METRICS = ["similarity", "change-read"]


def _mean(results: pd.DataFrame, test_set: str, metric: str) -> pd.Series:
    r = results[(results["test_set"] == test_set) & (results["metric"] == metric) & (results["region"].fillna("") == "")]
    return r.groupby("run")["value"].mean()


def test_copy_reference_tops_similarity_erases_change_and_is_never_ranked(toy_manifest, tmp_path):
    assert registry.get_method("copy-reference").capabilities.diagnostic
    assert registry.get_method("identity").capabilities.diagnostic
    out = tmp_path / "lb"
    res = evaluate(EvalConfig(dataset=str(toy_manifest), methods=parse_specs("identity,copy-reference,histmatch"),
                              out=out, work_dir=tmp_path / "work", metrics=METRICS))
    df = res.results
    for ts in ("A", "B"):
        for metric in ("psnr", "ssim"):
            means = _mean(df, ts, metric)
            assert means.idxmax() == "copy-reference", (ts, metric, means.to_dict())
    kept = _mean(df, "B", "change-kept")          # lesions that really changed: kept in the true direction
    assert kept["copy-reference"] == 0.0 and kept["copy-reference"] < kept["identity"]
    assert kept["copy-reference"] < kept["histmatch"]

    runs = json.loads((out / "runs.json").read_text())["runs"]
    assert {r["run"]: r["diagnostic"] for r in runs} == {"identity": True, "copy-reference": True,
                                                          "histmatch": False}
    ranking = pd.read_csv(out / "ranking.csv")
    assert ranking[ranking["run"].isin(["copy-reference", "identity"])]["group"].isna().all()
    assert (ranking[ranking["run"] == "histmatch"]["group"] == 1).all()
    md = (out / "table3-volumewise-testA.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| copy-reference (diagnostic) |"))
    assert "**" not in row                                            # best similarity, never bold
    assert "| identity (diagnostic) |" in md
    ranks = (out / "table8-ranking-testB.md").read_text()
    assert "| copy-reference (diagnostic) | — | diagnostic |" in ranks
