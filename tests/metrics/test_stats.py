from __future__ import annotations

import math

import numpy as np
import pytest

from harmbench.stats import (StatsError, holm, mcnemar_table, mcnemar_test, paired_difference, paired_test,
                             policy, versions)


def test_mcnemar_on_a_known_table():
    # rows: a called (1, 0); columns: b called (1, 0). Discordant pairs: 9 vs 1.
    a = [1] * 10 + [1] * 9 + [0] * 1 + [0] * 5
    b = [1] * 10 + [0] * 9 + [1] * 1 + [0] * 5
    table, p = mcnemar_test(a, b)
    assert table.tolist() == [[10, 9], [1, 5]]
    assert p == pytest.approx(2 * (1 + 10) / 2**10)      # exact binomial: 2 P(X <= 1 | n=10, 1/2)
    assert mcnemar_test([1, 0, 1], [1, 0, 1])[1] == 1.0  # no discordant pairs
    assert mcnemar_table([1, np.nan, 0], [1, 1, 0]).tolist() == [[1, 0], [0, 1]]


def test_wilcoxon_and_ttest_known_values():
    stat, p = paired_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert stat == 0.0 and p == pytest.approx(2 / 32)    # exact: all 5 differences positive
    t, p = paired_test([1, 2, 3], [0, 0, 0], test="ttest")
    assert t == pytest.approx(2 * math.sqrt(3))          # mean 2, sd 1, n 3
    assert p == pytest.approx(2 * (0.5 - t / (2 * math.sqrt(t * t + 2))))  # Student t, 2 df, closed form


def test_paired_test_edge_cases():
    assert paired_test([1, 2, 3], [1, 2, 3]) == (0.0, 1.0)
    s, p = paired_test([1.0], [2.0])
    assert math.isnan(s) and math.isnan(p)
    # NaN pairs are dropped: the same as the test on the complete pairs
    assert paired_test([1, 2, np.nan, 4, 5, 6], [0, 0, 7, 0, 0, 0]) == paired_test([1, 2, 4, 5, 6], [0] * 5)
    with pytest.raises(StatsError, match="unknown paired test 'sign'"):
        paired_test([1, 2], [2, 3], test="sign")
    with pytest.raises(StatsError, match="3 values vs 2"):
        paired_test([1, 2, 3], [2, 3])


def test_holm_and_versions():
    out = holm([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(out[:3], [0.03, 0.06, 0.06])
    assert math.isnan(out[3])
    v = versions()
    assert set(v) == {"scipy", "statsmodels", "numpy", "harmbench"}
    assert policy()["wilcoxon_zero_method"] == "wilcox"


def test_holm_matches_statsmodels():
    import numpy as np
    from statsmodels.stats.multitest import multipletests

    from harmbench.stats import holm

    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 17):
        p = rng.uniform(0, 0.2, n)
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
    got = holm([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])


def test_paired_difference_is_the_student_t_interval():
    # differences (1, 2, 3): mean 2, sd 1, n 3; Student t, 2 df: quantile (2q - 1) / sqrt(2q(1 - q))
    def t2(q):
        return (2 * q - 1) / math.sqrt(2 * q * (1 - q))

    mean, lo, hi = paired_difference([1, 2, 3, np.nan], [0, 0, 0, 5])
    half = t2(0.975) / math.sqrt(3)                     # 4.3027 / sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half), rel=1e-9)
    hi50 = paired_difference([1, 2, 3], [0, 0, 0], confidence=0.5)[2]
    assert hi50 == pytest.approx(2 + t2(0.75) / math.sqrt(3))
    one = paired_difference([4.0, np.nan], [1.0, 2.0])
    assert one[0] == 3.0 and math.isnan(one[1]) and math.isnan(one[2])          # n < 2: no interval
    assert all(math.isnan(x) for x in paired_difference([np.nan], [1.0]))
    assert paired_difference([1.5, 2.5], [1.0, 2.0]) == (0.5, 0.5, 0.5)           # sd 0: collapsed interval
    with pytest.raises(StatsError, match="confidence must be in"):
        paired_difference([1, 2], [0, 0], confidence=95)


def test_fast_signed_rank_permutation_equals_scipy_wilcoxon_bit_for_bit():
    """Ties and zeros send scipy to a slow per-flip permutation test; ours must give its exact numbers."""
    import warnings

    from scipy import stats

    rng = np.random.default_rng(11)
    vectors = [([1.0, 2.0, 2.0, 3.0, 0.5], [0.0, 1.0, 1.0, 3.0, 0.0]),        # a zero and tied |d|
               ([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]),                   # a zero difference
               ([1.0, 1.0, 1.0], [0.0, 2.0, 1.0])]                              # one zero, tied magnitudes
    for _ in range(12):
        k = int(rng.integers(3, 9))
        a, b = np.round(rng.normal(0, 1, k), 1), np.round(rng.normal(0.3, 1, k), 1)
        b[0] = a[0]
        vectors.append((a.tolist(), b.tolist()))
    for a, b in vectors:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
        assert paired_test(a, b) == (float(ref.statistic), float(ref.pvalue))


def test_icc_agreement_equals_pingouin_icc2():
    import warnings

    import pandas as pd
    pingouin = pytest.importorskip("pingouin")
    from harmbench.stats import icc_agreement

    rng = np.random.default_rng(3)
    for _ in range(8):
        n = int(rng.integers(3, 12))
        true = rng.normal(1000, 100, n)
        x = np.c_[true + rng.normal(0, 30, n), true + rng.normal(rng.uniform(-40, 40), 30, n)]
        long = (pd.DataFrame(x, columns=["bl", "fu"]).rename_axis("case").reset_index()
                .melt(id_vars="case", var_name="rater", value_name="v"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pingouin.intraclass_corr(long, targets="case", raters="rater", ratings="v").set_index("Type")
        # two-way random effects, absolute agreement, single rater: "ICC2" before pingouin 0.6,
        # "ICC(A,1)" since; its CI column lost the "%" at the same time
        row = ref.loc[next(t for t in ("ICC(A,1)", "ICC2") if t in ref.index)]
        ci = row[next(c for c in ("CI95", "CI95%") if c in ref.columns)]
        value, lo, hi = icc_agreement(x)
        assert value == pytest.approx(row["ICC"], abs=1e-12)
        assert (round(lo, 2), round(hi, 2)) == tuple(ci)     # pingouin rounds its CI
    assert all(math.isnan(v) for v in icc_agreement(np.ones((2, 2))))
    with pytest.raises(StatsError):
        icc_agreement(np.ones(4))
