"""Rank groups, P(A > B) and the two-level bootstrap on synthetic (seeds x cases) result tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from harmbench.leaderboard.markdown import headline, leaderboard_documents
from harmbench.leaderboard.ranking import pairwise_frame, ranking_frame, rankings, seed_sd_cell
from harmbench.leaderboard.render import load_results, render_leaderboards
from harmbench.leaderboard.summary import seed_average, summarize
from harmbench.leaderboard.table import to_markdown
from harmbench.ranking import (RankingError, comparisons, improvement, point_mean, rank_groups, rank_runs,
                               seed_sd)
from harmbench.stats import mcnemar_test, sign_test

N_SEEDS, N_CASES = 3, 12


def _matrix(rng: np.random.Generator, shift: float, case_effect: np.ndarray, noise: float = 0.3) -> np.ndarray:
    """(seeds, cases): a shared per-case level, a per-seed offset and per-value noise, plus ``shift``."""
    seeds = rng.normal(0, noise, (N_SEEDS, 1))
    return case_effect[None, :] + shift + seeds + rng.normal(0, noise, (N_SEEDS, N_CASES))


@pytest.fixture
def three_methods() -> dict[str, np.ndarray]:
    """'good' beats two methods drawn from one distribution by 3 dB in every seed and case."""
    rng = np.random.default_rng(11)
    cases = rng.normal(25, 1.0, N_CASES)
    return {"good": _matrix(rng, 3.0, cases), "same1": _matrix(rng, 0.0, cases),
            "same2": _matrix(rng, 0.0, cases)}


def test_clear_winner_gets_p_above_095_and_a_group_of_its_own(three_methods):
    rk = rank_runs(three_methods, higher=True, names=("A", "psnr"))
    for other in ("same1", "same2"):
        pair = rk.pair("good", other)
        assert pair.p == 1.0 and pair.lo > 0.95 and pair.decisive
        assert rk.pair(other, "good").p == 0.0
    groups = rk.groups()
    assert groups[0] == ["good"] and sorted(groups[1]) == ["same1", "same2"]
    assert [r.run for r in rk.runs][0] == "good"
    best = rk.runs[0]
    assert best.rank == 1.0 and best.rank_lo == 1.0 and best.rank_hi == 1.0


def test_methods_from_one_distribution_are_tied(three_methods):
    rk = rank_runs(three_methods, higher=True, names=("A", "psnr"))
    pair = rk.pair("same1", "same2")
    assert pair.lo < 0.5 < pair.hi and not pair.decisive
    by_run = {r.run: r for r in rk.runs}
    assert by_run["same1"].group == by_run["same2"].group == 2
    assert by_run["same1"].rank_lo == 2 and by_run["same1"].rank_hi == 3     # either may come second


def test_lower_is_better_reverses_the_comparison(three_methods):
    rk = rank_runs(three_methods, higher=False, names=("A", "lpips"))
    assert rk.pair("good", "same1").p == 0.0 and rk.groups()[-1] == ["good"]


def test_bootstrap_is_reproducible_given_its_seed_and_changes_with_it(three_methods):
    a = rank_runs(three_methods, higher=True, names=("A", "psnr"), seed=5)
    b = rank_runs(dict(reversed(list(three_methods.items()))), higher=True, names=("A", "psnr"), seed=5)
    c = rank_runs(three_methods, higher=True, names=("A", "psnr"), seed=6)
    assert a.runs == b.runs
    pa, pb = a.pair("same1", "same2"), b.pair("same1", "same2")
    assert (pa.p, pa.lo, pa.hi) == pytest.approx((pb.p, pb.lo, pb.hi), abs=1e-12)
    assert (a.pair("same1", "same2").lo, a.runs[0].ci_lo) != (c.pair("same1", "same2").lo, c.runs[0].ci_lo)
    # a run's draws do not depend on which other runs are ranked with it
    d = rank_runs({"good": three_methods["good"], "same1": three_methods["same1"]}, higher=True,
                  names=("A", "psnr"), seed=5)
    assert d.runs[0].ci_lo == a.runs[0].ci_lo and d.runs[0].ci_hi == a.runs[0].ci_hi


def test_improvement_is_the_mean_over_cases_of_the_mann_whitney_probability(three_methods):
    a, b = three_methods["same1"], three_methods["same2"]
    b[0, 3] = a[1, 3]                                                 # one exact tie counts ½
    expected = np.mean([mannwhitneyu(a[:, c], b[:, c]).statistic / (N_SEEDS * N_SEEDS) for c in range(N_CASES)])
    assert improvement(a, b, higher=True) == pytest.approx(expected)
    assert improvement(a, b, higher=True) + improvement(b, a, higher=True) == pytest.approx(1.0)


def test_comparisons_ties_and_missing_values():
    k = comparisons(np.array([[1.0, 2.0, np.nan]]), np.array([[0.0, 2.0, 5.0], [3.0, 2.0, 1.0]]), higher=True)
    assert k.shape == (1, 2, 3)
    assert k[0, :, 0].tolist() == [1.0, 0.0] and k[0, :, 1].tolist() == [0.5, 0.5] and np.isnan(k[0, :, 2]).all()
    assert improvement(np.array([[1.0, 2.0, np.nan]]), np.array([[0.0, 2.0, 5.0]]), higher=True) == 0.75
    with pytest.raises(RankingError, match="share their cases"):
        comparisons(np.ones((1, 2)), np.ones((1, 3)), higher=True)


def test_single_seed_spread_is_unknown_and_bootstrap_resamples_cases_only():
    rng = np.random.default_rng(3)
    one = {"m": rng.normal(0, 1, (1, N_CASES)), "n": rng.normal(0, 1, (1, N_CASES))}
    rk = rank_runs(one, higher=True, names=("A", "psnr"))
    assert all(math.isnan(r.seed_sd) and r.n_seeds == 1 for r in rk.runs)
    assert math.isnan(seed_sd(one["m"])) and seed_sd(np.array([[1.0, 3.0], [3.0, 5.0]])) == pytest.approx(math.sqrt(2))
    assert seed_sd_cell(rk.runs[0], 3).text == "n/a (1 seed)"
    assert seed_sd_cell(rk.runs[0], 3, unseeded={rk.runs[0].run}).text == "— (not learned)"
    # cases-only: the CI of the mean is the percentile CI of case means (same draws for both levels)
    x = one["m"][0]
    ci = (rk.runs[0] if rk.runs[0].run == "m" else rk.runs[1])
    assert ci.ci_lo < x.mean() < ci.ci_hi and ci.mean == pytest.approx(x.mean())
    assert ci.ci_hi - ci.ci_lo == pytest.approx(2 * 1.96 * x.std(ddof=0) / math.sqrt(N_CASES), rel=0.25)


def test_rank_groups_start_a_new_group_on_a_decisive_comparison_with_the_groups_best():
    class P:
        def __init__(self, decisive): self.decisive = decisive
    pairs = {("a", "b"): P(False), ("a", "c"): P(True), ("c", "d"): P(False), ("b", "c"): P(False)}
    assert rank_groups(["a", "b", "c", "d"], pairs) == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_a_consistent_but_tiny_gap_is_a_tie_under_the_minimal_meaningful_difference():
    # "stgan" sits 0.003 dB below "identity" in every case: decisive by per-case wins, not meaningful
    rng = np.random.default_rng(5)
    base = rng.normal(18.0, 0.5, (1, N_CASES))
    vals = {"good": base + 4.0 + rng.normal(0, 0.2, (3, N_CASES)), "identity": base,
            "stgan": base - 0.003 + np.zeros((3, 1))}
    plain = rank_runs(vals, higher=True, names=("A", "psnr"))
    assert plain.pair("identity", "stgan").decisive
    assert {r.run: r.group for r in plain.runs} == {"good": 1, "identity": 2, "stgan": 3}
    mmd = rank_runs(vals, higher=True, names=("A", "psnr"), min_difference=0.5)
    assert {r.run: r.group for r in mmd.runs} == {"good": 1, "identity": 2, "stgan": 2}
    assert mmd.min_difference == 0.5 and plain.min_difference == 0.0
    # a large gap that is not decisive stays a tie too: both conditions are needed
    class P:
        def __init__(self, decisive): self.decisive = decisive
    pairs = {("a", "b"): P(False), ("a", "c"): P(True)}
    assert rank_groups(["a", "b", "c"], pairs, {"a": 10.0, "b": 0.0, "c": 9.8}, 0.5) == {"a": 1, "b": 1, "c": 1}
    assert rank_groups(["a", "b", "c"], pairs, {"a": 10.0, "b": 0.0, "c": 9.0}, 0.5) == {"a": 1, "b": 1, "c": 2}
    with pytest.raises(RankingError):
        rank_groups(["a"], pairs, None, 0.5)
    with pytest.raises(RankingError):
        rank_groups(["a"], pairs, {"a": 1.0}, -1.0)


def test_point_mean_weights_cases_and_ignores_missing():
    assert point_mean(np.array([[1.0, np.nan], [3.0, 4.0]])) == pytest.approx((1 + 3 + 4) / 3)


def test_sign_test_equals_exact_mcnemar_on_calls_and_takes_rates():
    a = [1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
    b = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert sign_test(a, b) == pytest.approx(mcnemar_test(a, b)[1])
    assert sign_test([0.0, 1 / 3, 2 / 3], [0.0, 0.0, 0.0]) == pytest.approx(0.5)   # 2 positive of 2: 2 * 1/4
    assert sign_test([1.0, 1.0], [1.0, 1.0]) == 1.0 and math.isnan(sign_test([np.nan], [1.0]))


# -- long-form results with seeds ------------------------------------------------------------------


def seeded_results(seeds: tuple[int, ...] = (0, 1, 2), gap: float = 3.0) -> pd.DataFrame:
    """Schema-2 results on test A: 'good' and two equal methods with seeds; 'plain' and the
    references without a seed. PSNR and one change call per case."""
    rng = np.random.default_rng(5)
    cases = rng.normal(25, 1.0, N_CASES)
    rows = []

    def add(run, seed, values, calls):
        for i, (v, c) in enumerate(zip(values, calls)):
            for metric, val in (("psnr", v), ("change-any", c)):
                rows.append(dict(dataset="toy", test_set="A", method=run, run=run, seed=seed, case=f"c{i:02d}",
                                 metric=metric, region="", value=val))

    for run in ("original-fu", "same-scanner-fu2", "plain"):
        add(run, np.nan, cases + (0.5 if run == "plain" else 0.0), [1.0] * 6 + [0.0] * 6)
    for run, shift in (("good", gap), ("same1", 0.0), ("same2", 0.0)):
        for s in seeds:
            add(run, float(s), cases + 0.8 + shift + rng.normal(0, 0.3) + rng.normal(0, 0.3, N_CASES),
                (rng.random(N_CASES) < 0.2).astype(float))
    return pd.DataFrame(rows)


def test_summary_p_values_use_per_case_means_over_seeds():
    res = seeded_results()
    s = summarize(res).set_index(["run", "metric"])
    avg = seed_average(res)
    good = avg[(avg["run"] == "good") & (avg["metric"] == "psnr")].set_index("case")["value"]
    assert len(good) == N_CASES and s.loc[("good", "psnr"), "n"] == N_CASES
    assert s.loc[("good", "psnr"), "mean"] == pytest.approx(good.mean())
    assert s.loc[("good", "psnr"), "seeds"] == 3 and s.loc[("good", "psnr"), "seed_sd"] > 0
    assert s.loc[("plain", "psnr"), "seeds"] == 1 and math.isnan(s.loc[("plain", "psnr"), "seed_sd"])
    # 12 cases, all better: exact Wilcoxon P = 2 / 2**12 (not 2 / 2**36 as if seeds were cases)
    assert s.loc[("good", "psnr"), "p_wilcoxon"] == pytest.approx(2 / 2 ** 12)
    assert np.isfinite(s.loc[("good", "change-any"), "p_mcnemar"])


def test_leaderboard_documents_sort_by_rank_and_show_groups():
    res = seeded_results()
    docs = leaderboard_documents(summarize(res), "A", "toy", res, unseeded={"plain"})
    table3 = docs["table3-volumewise-testA"].tables()[0]
    labels = [r.cells[0].text for r in table3.rows]
    assert labels[0] == "original FU (reference)" and labels[1] == "good" and labels[-1].startswith("FU2")
    assert table3.columns[1].name == "group (psnr)" and table3.rows[1].cells[1].text == "1"
    assert {table3.rows[i].cells[1].text for i in (2, 3)} == {"2 (tie)"}
    md = to_markdown(docs["table8-ranking-testA"])
    assert "| good | 1 | 1 [1, 1] |" in md and "| plain |" in md and "— (not learned)" in md
    assert "One training seed" not in md


def test_single_seed_leaderboard_says_the_spread_is_unknown():
    res = seeded_results(seeds=(0,))
    docs = leaderboard_documents(summarize(res), "A", "toy", res)
    md = to_markdown(docs["table8-ranking-testA"])
    assert "n/a (1 seed)" in md and "between-seed spread is unknown" in md


def test_rankings_are_reproducible_from_results(tmp_path):
    res = seeded_results()
    a = rankings(res, endpoint_keys=("psnr",), n_boot=500)
    b = rankings(res.sample(frac=1.0, random_state=1), endpoint_keys=("psnr",), n_boot=500)
    pd.testing.assert_frame_equal(ranking_frame(a), ranking_frame(b))
    pd.testing.assert_frame_equal(pairwise_frame(a), pairwise_frame(b), atol=1e-12)


def test_schema_1_and_2_files_load_and_render_without_plugins_state(tmp_path):
    res = seeded_results()
    old = tmp_path / "old"
    old.mkdir()
    res[res["seed"].isna() | (res["seed"] == 0)].drop(columns="seed").to_csv(old / "results.csv", index=False)
    loaded, meta = load_results(old)
    assert "seed" in loaded and loaded["seed"].isna().all() and meta == {}
    new = tmp_path / "new"
    new.mkdir()
    out = res.copy()
    out["seed"] = out["seed"].astype("Int64")
    out.to_csv(new / "results.csv", index=False)
    (new / "runs.json").write_text(json.dumps({"results_schema": 2, "dataset": {"name": "toy"}}))
    written = {p.name for p in render_leaderboards(new)}
    assert {"ranking.csv", "pairwise.csv", "table8-ranking-testA.md", "report.html"} <= written
    ranking = pd.read_csv(new / "ranking.csv")
    good = ranking[(ranking["endpoint"] == "psnr") & (ranking["run"] == "good")].iloc[0]
    assert good["group"] == 1 and good["seeds"] == 3 and good["ci_lo"] < good["mean"] < good["ci_hi"]
    pairs = pd.read_csv(new / "pairwise.csv")
    row = pairs[(pairs["endpoint"] == "psnr") & (pairs["a"] == "good") & (pairs["b"] == "same1")].iloc[0]
    assert row["p_a_better"] > 0.95 and bool(row["decisive"])
    assert "rank diagram test A" in (new / "report.html").read_text()
    loaded, _ = load_results(new)
    table = headline(summarize(loaded), ["A"], rankings(loaded, endpoint_keys=("psnr",)))
    assert [c.name for c in table.columns][:3] == ["test set", "run", "PSNR group"]
    assert [r.cells[1].text for r in table.rows][1] == "good"


def test_a_non_integer_seed_is_a_one_line_data_error(tmp_path):
    from harmbench.errors import DataError

    res = seeded_results(seeds=(0,)).astype({"seed": object})
    res.loc[res.index[-1], "seed"] = "first"
    res.to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(DataError, match="has seed 'first'; expected an integer or empty"):
        load_results(tmp_path)


def test_rank_diagram_draws_a_rank_outside_its_bootstrap_interval():
    # the observed rank of a tied method can lie outside the percentile interval of its bootstrap
    # ranks (seen on synth-quick-15t); the figure must still render
    from harmbench.leaderboard.figures import rank_diagram

    png = rank_diagram([("test A", [("a", 1.0, 1.0, 2.0, 1), ("b", 2.5, 2.6, 3.0, 1), ("c", 3.0, 2.0, 2.9, 2)])],
                       "ranks")
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
