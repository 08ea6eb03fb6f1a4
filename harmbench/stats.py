"""Paired statistics for leaderboards: each method vs the original FU, per metric.

* :func:`paired_test` — Wilcoxon signed-rank (similarity, lesion, CNR) or paired t-test (CNR, as in
  the paper's Table 4 note). Pairs with a NaN on either side are dropped.
* :func:`paired_difference` — mean paired difference (method − original FU) with its 95 % Student-t
  confidence interval: the effect size printed next to P.
* :func:`mcnemar_test` — exact McNemar test on paired 0/1 change calls.
* :func:`sign_test` — exact sign test on paired values; on 0/1 calls it is the exact McNemar test,
  and it also takes call *rates* averaged over training seeds (values in [0, 1]).
* :func:`holm` — Holm step-down adjustment of a family of p values.
* :func:`icc_agreement` — ICC(2,1) (two-way random, absolute agreement, single rater) with its
  95 % CI (McGraw & Wong 1996), from the two-way ANOVA mean squares.
* :func:`versions` — library versions to store with the results.

Zero differences in the Wilcoxon test: scipy's default ``zero_method="wilcox"`` discards pairs
whose difference is exactly zero before ranking; we keep that default (and record the scipy
version). If *every* difference is zero the methods are indistinguishable and we return p = 1.0
without calling scipy (whose result for that case depends on method and version: NaN with the
normal approximation). With fewer than two usable pairs the p value is NaN. The signed-rank
test uses scipy's ``method="auto"`` (exact distribution for n ≤ 50 without ties/zeros, normal
approximation above 50; with ties or zeros, exhaustive permutations up to n = 13, normal
approximation above). The permutation branch runs through scipy's ``permutation_test`` with a
vectorized statistic (:func:`_signed_rank_permutation`): the same p values, ≈ 50× faster.

Effect size: the mean of the paired differences d = value − baseline over the cases where both are
finite, with the two-sided t-interval ``mean ± t(1 − α/2, n − 1) · sd(d) / √n`` (``sd`` with
n − 1 in the denominator). With one usable pair the mean is reported and the interval is NaN; with
none, all three are NaN. If every difference is the same number (sd = 0) the interval collapses to
that number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from harmbench.errors import HarmbenchError

TESTS = ("wilcoxon", "ttest")
CI_LEVEL = 0.95
WILCOXON_ZERO_METHOD = "wilcox"


class StatsError(HarmbenchError, ValueError):
    """Bad input to a statistical test (unknown test, mismatched lengths)."""


def _pairs(values: Sequence[float], baseline: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(values, dtype=np.float64).ravel()
    b = np.asarray(baseline, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise StatsError(f"paired samples differ in length: {a.size} values vs {b.size} baseline values")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def paired_test(values: Sequence[float], baseline: Sequence[float], *, test: str = "wilcoxon") -> tuple[float, float]:
    """Two-sided paired test of ``values`` against ``baseline`` (same cases, same order).

    Args:
        values: per-case metric of a method, shape (n,).
        baseline: per-case metric of the original FU, shape (n,).
        test: ``"wilcoxon"`` (signed-rank, ``zero_method="wilcox"``) or ``"ttest"`` (paired t).

    Returns:
        ``(statistic, p)``: Wilcoxon W (smaller rank sum) or Student t; ``(0.0, 1.0)`` when every
        usable difference is zero; ``(nan, nan)`` with fewer than two usable pairs.
    """
    from scipy import stats

    if test not in TESTS:
        raise StatsError(f"unknown paired test {test!r}; expected one of {TESTS}")
    a, b = _pairs(values, baseline)
    if a.size < 2:
        return math.nan, math.nan
    d = a - b
    if np.all(d == 0):
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample / ties notices; the result is what we report
        if test == "wilcoxon":
            fast = _signed_rank_permutation(d)
            if fast is not None:
                return fast
            res = stats.wilcoxon(a, b, zero_method=WILCOXON_ZERO_METHOD, alternative="two-sided")
        else:
            res = stats.ttest_rel(a, b, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def _signed_rank_permutation(d: np.ndarray) -> tuple[float, float] | None:
    """scipy's own Wilcoxon path for small samples with ties or zeros, vectorized.

    For n ≤ 13 differences with ties or zeros, ``scipy.stats.wilcoxon(method="auto")`` runs
    ``permutation_test`` over all 2^n sign flips, calling its statistic once per flip (≈ 1 s per
    test at n = 10; it dominated rendering a three-seed leaderboard). The ranks of |d| do not
    change under a sign flip, so the statistic W+ = Σ ranks of the positive differences is one
    matrix product; we hand scipy's ``permutation_test`` that vectorized statistic with the same
    settings (zeros dropped from the ranking as ``zero_method="wilcox"`` does, 9999 resamples,
    which is exhaustive for n ≤ 13), so the p value is scipy's, bit for bit (tested). None when
    scipy would not permute (no ties or zeros: exact distribution; n > 13: normal approximation).
    """
    from scipy import stats

    nonzero = d != 0
    magnitude = np.abs(d[nonzero])
    if d.size > 13 or (nonzero.all() and np.unique(magnitude).size == magnitude.size):
        return None
    ranks = np.zeros(d.shape)
    ranks[nonzero] = stats.rankdata(magnitude)

    def w_plus(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum((x > 0) * ranks, axis=axis)

    res = stats.permutation_test((d,), w_plus, permutation_type="samples", vectorized=True, n_resamples=9999,
                                 alternative="two-sided", axis=-1)
    w_minus = float(np.sum((d < 0) * ranks))
    return min(float(w_plus(d)), w_minus), float(res.pvalue)


def icc_agreement(ratings: np.ndarray, *, confidence: float = CI_LEVEL) -> tuple[float, float, float]:
    """ICC(2,1) of ``ratings`` (targets × raters, complete) with its confidence interval.

    Shrout & Fleiss's ICC(2,1) / McGraw & Wong's ICC(A,1): two-way random effects, absolute
    agreement, one rater, from the mean squares of the two-way ANOVA without replication (targets
    MSR, raters MSC, residual MSE): ``(MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)``. The
    CI is McGraw & Wong's F-based interval with Satterthwaite degrees of freedom, the interval
    ``pingouin.intraclass_corr`` reports (checked against it in the tests, where it agrees to
    floating point and pingouin's CI rounding to 2 decimals; ours is not rounded). Computed
    directly because pingouin's ANOVA made 242 ICCs of a three-seed leaderboard take ~40 s.

    Returns:
        ``(icc, lo, hi)``; NaNs with fewer than 3 targets or 2 raters.
    """
    from scipy import stats

    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise StatsError(f"ratings must be targets x raters, got shape {x.shape}")
    n, k = x.shape
    if n < 3 or k < 2:
        return math.nan, math.nan, math.nan
    grand = x.mean()
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    ss_err = float(np.sum((x - grand) ** 2)) - ss_rows - ss_cols
    df_rows, df_err = n - 1, (n - 1) * (k - 1)
    msr, msc, mse = np.float64(ss_rows / df_rows), np.float64(ss_cols / (k - 1)), np.float64(ss_err / df_err)
    with np.errstate(divide="ignore", invalid="ignore"):   # perfect agreement: MSE = 0
        value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        fj = msc / mse
        vn = df_err * (k * value * fj + n * (1 + (k - 1) * value) - k * value) ** 2
        vd = df_rows * k ** 2 * value ** 2 * fj ** 2 + (n * (1 + (k - 1) * value) - k * value) ** 2
        v = vn / vd
        alpha = 1.0 - confidence
        f_hi = stats.f.ppf(1 - alpha / 2, df_rows, v)
        f_lo = stats.f.ppf(1 - alpha / 2, v, df_rows)
        lo = n * (msr - f_hi * mse) / (f_hi * (k * msc + (k * n - k - n) * mse) + n * msr)
        hi = n * (f_lo * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lo * msr)
    return float(value), float(lo), float(hi)


def paired_difference(values: Sequence[float], baseline: Sequence[float], *,
                      confidence: float = CI_LEVEL) -> tuple[float, float, float]:
    """Mean paired difference ``values − baseline`` and its Student-t confidence interval.

    Args:
        values: per-case metric of a method, shape (n,).
        baseline: per-case metric of the original FU, shape (n,); pairs with a NaN/inf dropped.
        confidence: two-sided coverage of the interval (0.95 = 95 % CI).

    Returns:
        ``(mean, lo, hi)`` in the metric's units; ``(mean, nan, nan)`` with one usable pair,
        all NaN with none.
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be in (0, 1); got {confidence!r}")
    a, b = _pairs(values, baseline)
    d = a - b
    if d.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(d))
    if d.size < 2:
        return mean, math.nan, math.nan
    sem = float(np.std(d, ddof=1)) / math.sqrt(d.size)
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, d.size - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def mcnemar_table(a_calls: Sequence[float], b_calls: Sequence[float]) -> np.ndarray:
    """2x2 table of paired binary calls: rows = a (1, 0), columns = b (1, 0); NaN pairs dropped."""
    a, b = _pairs(a_calls, b_calls)
    a, b = a.astype(bool), b.astype(bool)
    return np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]], dtype=int)


def mcnemar_test(a_calls: Sequence[float], b_calls: Sequence[float]) -> tuple[np.ndarray, float]:
    """Exact McNemar test (binomial on the discordant pairs) of two paired 0/1 call series.

    Returns:
        ``(table, p)`` with the table of :func:`mcnemar_table`; p = 1.0 when there are no
        discordant pairs, NaN when no pair is usable.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    table = mcnemar_table(a_calls, b_calls)
    if table.sum() == 0:
        return table, math.nan
    if table[0, 1] + table[1, 0] == 0:
        return table, 1.0
    return table, float(mcnemar(table, exact=True).pvalue)


def sign_test(values: Sequence[float], baseline: Sequence[float]) -> float:
    """Exact two-sided sign test of paired ``values`` against ``baseline`` (NaN pairs dropped).

    The number of positive differences among the non-zero ones is tested against Binomial(n, ½).
    On 0/1 values this is the exact McNemar test (the discordant pairs are the non-zero
    differences). Returns 1.0 when every usable difference is zero, NaN when no pair is usable.
    """
    from scipy.stats import binomtest

    a, b = _pairs(values, baseline)
    if a.size == 0:
        return math.nan
    d = a - b
    k, n = int(np.sum(d > 0)), int(np.sum(d != 0))
    if n == 0:
        return 1.0
    return float(binomtest(k, n, 0.5, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p values; NaNs stay NaN.

    Computed directly (sorted running maximum of ``(m - i) * p_(i)``, capped at 1) rather than with
    ``statsmodels.stats.multitest.multipletests``, which runs a full ``gc.collect()`` on every call
    (about 0.18 s here, paid once per leaderboard cell); ``tests/metrics/test_stats.py`` checks the
    two agree.
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = order.size
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out[order] = np.minimum(adj, 1.0)
    return out


def versions() -> dict[str, str]:
    """Versions of the libraries that produce the statistics (stored with results)."""
    import scipy
    import statsmodels

    import harmbench

    return {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__, "numpy": np.__version__,
            "harmbench": harmbench.__version__}


def _bootstrap_policy() -> str:
    from harmbench import ranking

    return (f"two-level (seeds, then cases; cases shared by every run) percentile bootstrap, "
            f"{ranking.N_BOOT} resamples, seed {ranking.BOOTSTRAP_SEED}; P(A > B) ties count 1/2; "
            f"rank groups: CI of P(A > B) vs the group's best run includes 0.5")


def policy() -> dict[str, str]:
    """How the tests treat edge cases (stored with results next to :func:`versions`)."""
    return {"wilcoxon_zero_method": WILCOXON_ZERO_METHOD, "wilcoxon_method": "auto (scipy: exact n<=50 without ties/zeros, else permutation n<=13 / normal)",
            "all_zero_differences": "p = 1.0", "missing": "pairs with NaN dropped; n < 2 -> p = NaN",
            "mcnemar": "exact binomial (statsmodels), no discordant pairs -> p = 1.0",
            "mcnemar_over_seeds": "per-case call rates averaged over seeds: exact sign test (= McNemar on 0/1)",
            "seeds": "P values and effect sizes on per-case values averaged over training seeds",
            "multiple_comparisons": "Holm (optional)",
            "bootstrap": _bootstrap_policy(),
            "effect_size": f"mean paired difference vs original FU, {CI_LEVEL:.0%} Student-t CI; "
                           "n < 2 -> CI NaN"}
