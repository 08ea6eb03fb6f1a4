"""Ranking statistics over training seeds and test cases: a two-level (seeds, cases) bootstrap.

Each run contributes a matrix ``X`` of shape ``(n_seeds, n_cases)``: one metric's value per training
seed and test case (NaN where missing). Runs that do not learn have one row. Every run of a test set
is scored on the same cases, so the case axis is shared (crossed with the seed axis).

* :func:`draw` — one bootstrap's resampling weights: per replicate, the cases are drawn with
  replacement once (shared by every run, so comparisons stay paired by case) and each run's seeds
  are drawn with replacement on their own (seed *i* of one method has nothing to do with seed *i*
  of another). Weights are counts divided by the sample size, shape ``(n_boot, n)``.
* :func:`bootstrap_mean` — the mean over seeds and cases, per replicate.
* :func:`improvement` — probability of improvement P(A > B): for every case, every (seed of A,
  seed of B) pair scores 1 when A is better, ½ on a tie and 0 when B is better; P is the mean over
  seed pairs, then over cases. Its bootstrap resamples the seeds of A, the seeds of B and the cases.
* :func:`rank_runs` — all of the above for a set of runs: mean with its percentile CI, the
  between-seed SD, the bootstrap distribution of each run's rank, pairwise P(A > B) with CIs, and
  rank groups (:func:`rank_groups`: decisive P(A > B) *and* a gap of means of at least the
  endpoint's minimal meaningful difference).

With a single seed the seed draw is always that seed, so the bootstrap degenerates to resampling
cases only, and the between-seed SD is NaN (unknown), never zero.

Random numbers come from :class:`numpy.random.Generator` streams derived from one recorded
bootstrap seed and the names involved (test set, metric, run), so a run's draws do not depend on
which other runs are present, and the same inputs give the same numbers. See docs/statistics.md.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from harmbench.errors import HarmbenchError

#: bootstrap resamples and the seed of every bootstrap stream (written to ranking.csv; stats.policy())
N_BOOT = 2000
BOOTSTRAP_SEED = 20261130
CI_LEVEL = 0.95


class RankingError(HarmbenchError, ValueError):
    """Bad input to the ranking statistics (wrong shapes, no runs)."""


def _key(*names: str) -> tuple[int, ...]:
    """A stable integer spawn key for a stream named by ``names`` (crc32: same across processes)."""
    return tuple(zlib.crc32(n.encode("utf-8")) for n in names)


def stream(seed: int, *names: str) -> np.random.Generator:
    """The bootstrap generator of ``names`` (e.g. test set, metric, run) under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_key(*names)))


def draw(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Resampling weights of ``n`` items: counts of a with-replacement draw / n, shape (n_boot, n)."""
    if n < 1:
        raise RankingError(f"cannot resample {n} items")
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n


def _check(x: np.ndarray, n_cases: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise RankingError(f"values must be a (seeds, cases) matrix; got shape {x.shape}")
    if n_cases is not None and x.shape[1] != n_cases:
        raise RankingError(f"values cover {x.shape[1]} cases; expected {n_cases}")
    return x


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def weighted_mean(x: np.ndarray, seed_w: np.ndarray, case_w: np.ndarray) -> np.ndarray:
    """Mean of ``x`` (seeds, cases) under seed weights (B, seeds) and case weights (B, cases), NaN-aware."""
    ok = np.isfinite(x)
    num = np.einsum("bs,bc,sc->b", seed_w, case_w, np.where(ok, x, 0.0))
    den = np.einsum("bs,bc,sc->b", seed_w, case_w, ok.astype(np.float64))
    return _ratio(num, den)


def point_mean(x: np.ndarray) -> float:
    """Mean over seeds and cases of finite values: each seed's cases weighted equally (NaN if none)."""
    x = _check(x)
    return float(weighted_mean(x, np.full((1, x.shape[0]), 1.0 / x.shape[0]),
                               np.full((1, x.shape[1]), 1.0 / x.shape[1]))[0])


def seed_sd(x: np.ndarray) -> float:
    """Between-seed SD: SD (ddof 1) over seeds of each seed's mean over cases; NaN with < 2 seeds."""
    x = _check(x)
    means = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in x])
    means = means[np.isfinite(means)]
    return float(np.std(means, ddof=1)) if means.size > 1 else float("nan")


def comparisons(a: np.ndarray, b: np.ndarray, *, higher: bool) -> np.ndarray:
    """Per-case outcomes of every (seed of A, seed of B) pair: 1 A better, ½ tie, 0 B better.

    Args:
        a: values of A, shape (seeds_a, cases).
        b: values of B, shape (seeds_b, cases), same cases in the same order.
        higher: the metric is better when higher.

    Returns:
        Shape (seeds_a, seeds_b, cases); NaN where either value is missing.
    """
    a, b = _check(a), _check(b)
    if a.shape[1] != b.shape[1]:
        raise RankingError(f"A covers {a.shape[1]} cases and B {b.shape[1]}; they must share their cases")
    d = a[:, None, :] - b[None, :, :]
    if not higher:
        d = -d
    out = np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
    return np.where(np.isfinite(d), out, np.nan)


def weighted_improvement(k: np.ndarray, wa: np.ndarray, wb: np.ndarray, wc: np.ndarray) -> np.ndarray:
    """P(A > B) per replicate from :func:`comparisons` ``k`` and weights of A's seeds, B's seeds, cases.

    Cases are weighted equally whatever the number of valid seed pairs in them, as in the point
    estimate: a case's score is its weighted mean over valid seed pairs.
    """
    ok = np.isfinite(k)
    num = np.einsum("bi,bj,ijc->bc", wa, wb, np.where(ok, k, 0.0))
    den = np.einsum("bi,bj,ijc->bc", wa, wb, ok.astype(np.float64))
    per_case = _ratio(num, den)
    valid = np.isfinite(per_case)
    return _ratio(np.einsum("bc,bc->b", wc, np.where(valid, per_case, 0.0)), np.einsum("bc->b", wc * valid))


def improvement(a: np.ndarray, b: np.ndarray, *, higher: bool) -> float:
    """Point estimate of P(A > B) (module docstring); NaN when no case has a valid pair."""
    k = comparisons(a, b, higher=higher)
    sa, sb, c = k.shape
    return float(weighted_improvement(k, np.full((1, sa), 1 / sa), np.full((1, sb), 1 / sb),
                                      np.full((1, c), 1 / c))[0])


def interval(samples: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap ``samples`` (NaN replicates ignored; NaNs if none)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class RunStats:
    """One run's aggregate: mean over seeds and cases with its two-level bootstrap CI, and its rank.

    Attributes:
        run: run name.
        n_seeds: seeds (rows of its matrix); 1 for runs that do not learn.
        n_cases: cases with at least one finite value.
        mean, ci_lo, ci_hi: mean and its percentile 95 % CI.
        seed_sd: between-seed SD of the per-seed means (NaN with one seed: unknown).
        rank, rank_lo, rank_hi: rank of the mean among the ranked runs (1 = best; ties share the
            average rank) and the 95 % percentile interval of its bootstrap distribution.
        group: rank group (1 = best); runs in one group are not decisively different.
    """

    run: str
    n_seeds: int
    n_cases: int
    mean: float
    ci_lo: float
    ci_hi: float
    seed_sd: float
    rank: float
    rank_lo: float
    rank_hi: float
    group: int


@dataclass(frozen=True)
class Pairwise:
    """P(A > B) with its 95 % CI; ``decisive`` when the CI excludes ½."""

    a: str
    b: str
    p: float
    lo: float
    hi: float

    @property
    def decisive(self) -> bool:
        return bool(np.isfinite(self.lo) and (self.lo > 0.5 or self.hi < 0.5))


@dataclass(frozen=True)
class Ranking:
    """:func:`rank_runs` output: ranked runs best first, P(A > B) for every ordered pair, and the
    minimal meaningful difference the rank groups used."""

    runs: tuple[RunStats, ...]
    pairs: dict[tuple[str, str], Pairwise]
    n_boot: int
    seed: int
    min_difference: float = 0.0

    def pair(self, a: str, b: str) -> Pairwise:
        return self.pairs[(a, b)]

    def groups(self) -> list[list[str]]:
        """Ranked runs per rank group, best group first (unranked runs are left out)."""
        out: dict[int, list[str]] = {}
        for r in self.runs:
            if r.group:
                out.setdefault(r.group, []).append(r.run)
        return [out[g] for g in sorted(out)]


def rank_groups(order: Sequence[str], pairs: Mapping[tuple[str, str], Pairwise],
                means: Mapping[str, float] | None = None, min_difference: float = 0.0) -> dict[str, int]:
    """Rank groups of runs listed best first: a run joins the current group unless it is *separated*
    from the group's first (best) run; then it starts the next group.

    Separated means the comparison is decisive (P(A > B) CI excludes ½) and, when
    ``min_difference`` > 0, the two means differ by at least ``min_difference`` (the endpoint's
    minimal meaningful difference): per-case wins alone do not split methods whose means are
    practically equal (e.g. a near-identity method 0.003 dB below the identity in every case).
    Runs without a valid comparison with the group's first run are not separated from it.
    """
    if min_difference < 0 or not np.isfinite(min_difference):
        raise RankingError(f"min_difference must be finite and >= 0, got {min_difference}")
    if min_difference > 0 and means is None:
        raise RankingError("min_difference needs the runs' means")
    groups: dict[str, int] = {}
    leader, g = None, 0
    for run in order:
        if leader is None or _separated(leader, run, pairs, means, min_difference):
            leader, g = run, g + 1
        groups[run] = g
    return groups


def _separated(leader: str, run: str, pairs: Mapping[tuple[str, str], Pairwise],
               means: Mapping[str, float] | None, min_difference: float) -> bool:
    if not pairs[(leader, run)].decisive:
        return False
    if min_difference <= 0 or means is None:
        return True
    gap = abs(means[leader] - means[run])
    return bool(np.isfinite(gap) and gap >= min_difference)


def rank_runs(values: Mapping[str, np.ndarray], *, higher: bool, ranked: Sequence[str] | None = None,
              names: Sequence[str] = (), n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED,
              level: float = CI_LEVEL, min_difference: float = 0.0) -> Ranking:
    """Two-level bootstrap aggregates, pairwise P(A > B), ranks and rank groups.

    Args:
        values: run -> (seeds, cases) matrix; all runs share the case axis.
        higher: the metric is better when higher.
        ranked: runs that take part in the ranking (default: all); the others (reference rows)
            still get their aggregates and pairwise comparisons, with NaN rank and group 0.
        names: names of the bootstrap stream (e.g. test set, metric), for reproducible draws.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        level: CI coverage.
        min_difference: the endpoint's minimal meaningful difference of means; a run is only
            separated into a new rank group when its gap to the group's best run reaches it (and
            the comparison is decisive). 0: decisiveness alone.

    Returns:
        A :class:`Ranking`; ``runs`` ranked best first, then the unranked runs.
    """
    if not values:
        raise RankingError("no runs to rank")
    mats = {run: _check(x) for run, x in values.items()}
    n_cases = next(iter(mats.values())).shape[1]
    for x in mats.values():
        _check(x, n_cases)
    ranked = list(mats) if ranked is None else [r for r in ranked if r in mats]
    case_w = draw(stream(seed, *names, "cases"), n_cases, n_boot)
    seed_w = {run: draw(stream(seed, *names, "seeds", run), x.shape[0], n_boot) for run, x in mats.items()}
    boot = {run: weighted_mean(x, seed_w[run], case_w) for run, x in mats.items()}
    means = {run: point_mean(x) for run, x in mats.items()}
    runs = list(mats)
    pairs: dict[tuple[str, str], Pairwise] = {}
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            k = comparisons(mats[a], mats[b], higher=higher)
            p = improvement(mats[a], mats[b], higher=higher)
            lo, hi = interval(weighted_improvement(k, seed_w[a], seed_w[b], case_w), level)
            pairs[(a, b)] = Pairwise(a, b, p, lo, hi)
            pairs[(b, a)] = Pairwise(b, a, 1 - p, 1 - hi, 1 - lo)
    sign = -1.0 if higher else 1.0
    ranks = np.full(len(ranked), np.nan)
    rank_ci = np.full((len(ranked), 2), np.nan)
    if ranked:
        point = np.array([means[r] for r in ranked])
        ranks = rankdata(np.where(np.isfinite(point), sign * point, np.inf), method="average")
        samples = np.stack([boot[r] for r in ranked], axis=1)
        dist = rankdata(np.where(np.isfinite(samples), sign * samples, np.inf), method="average", axis=1)
        rank_ci = np.quantile(dist, [(1 - level) / 2, (1 + level) / 2], axis=0).T
    order = [ranked[i] for i in np.lexsort((np.arange(len(ranked)), ranks))] if ranked else []
    groups = rank_groups(order, pairs, means, min_difference)
    position = {r: i for i, r in enumerate(ranked)}
    out = []
    for run in order + [r for r in runs if r not in position]:
        x = mats[run]
        lo, hi = interval(boot[run], level)
        i = position.get(run)
        out.append(RunStats(run, x.shape[0], int(np.isfinite(x).any(axis=0).sum()), means[run], lo, hi,
                            seed_sd(x), float(ranks[i]) if i is not None else float("nan"),
                            float(rank_ci[i, 0]) if i is not None else float("nan"),
                            float(rank_ci[i, 1]) if i is not None else float("nan"), groups.get(run, 0)))
    return Ranking(tuple(out), pairs, n_boot, seed, float(min_difference))
