"""Rank groups, rank CIs and P(A > B) for the leaderboard's headline endpoints, from results alone.

For each test set and :class:`Endpoint` the per-(run, seed, case) values are gathered from
``results.csv`` into (seeds, cases) matrices and handed to :func:`harmbench.ranking.rank_runs`. The
methods are ranked; the original FU and the same-scanner FU2 are reference rows: they get their
mean and CI and appear as a comparison column, but no rank.

Outputs: ``ranking.csv`` (one row per test set, endpoint and run), ``pairwise.csv`` (P(A > B) per
ordered pair), the ``table8-ranking-test{A,B}`` documents, the order (and group labels) every other
table is sorted by, and the data of the critical-difference-style figure.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmbench.leaderboard.cells import is_diagnostic, run_label, run_row
from harmbench.leaderboard.names import BASELINE, CEILING
from harmbench.leaderboard.summary import SEED, min_meaningful
from harmbench.leaderboard.table import Block, Cell, Column, Heading, Paragraph, Table, spans
from harmbench.ranking import BOOTSTRAP_SEED, N_BOOT, Ranking, RunStats, rank_runs

REFERENCES = (BASELINE, CEILING)


@dataclass(frozen=True)
class Endpoint:
    """A ranked quantity: a metric (its mean over regions when ``region_mean``) and its direction.

    Attributes:
        key: short name used in file columns (``psnr``, ``cnr-diff-mean``, ``change-any``).
        metric: the results.csv metric.
        higher: better when higher.
        label: how tables name it.
        region_mean: average the metric's regions per case first (mean |ΔCNR|).
        headline: shown in the ranking document (else only used to sort a table).
        digits: decimals shown.
    """

    key: str
    metric: str
    higher: bool
    label: str
    region_mean: bool = False
    headline: bool = True
    digits: int = 3


def endpoints(test_set: str) -> list[Endpoint]:
    """The ranked endpoints of a test set: similarity, mean |ΔCNR|, the change read (A: false
    progression, lower is better; B: change kept, higher is better), and lesion Dice (sorting only)."""
    change = ([Endpoint("change-any", "change-any", False, "false progression (combined)"),
               Endpoint("change-size", "change-size", False, "false progression (size)")] if test_set == "A" else
              [Endpoint("change-kept", "change-kept", True, "change kept (size, true direction)"),
               Endpoint("change-any", "change-any", True, "change kept (combined)")])
    return [Endpoint("psnr", "psnr", True, "volume PSNR (dB)", digits=2),
            Endpoint("ssim", "ssim", True, "volume SSIM"),
            Endpoint("slice-lpips", "slice-lpips", False, "slice LPIPS"),
            Endpoint("cnr-diff-mean", "cnr-diff", False, "mean |ΔCNR| over regions", region_mean=True),
            *change,
            Endpoint("lesion-dice", "lesion-dice", True, "lesion Dice", headline=False)]


#: the endpoint that sorts each table (by file stem prefix); the terminal summary uses "psnr"
SORT_BY = {"table2-slicewise": "slice-lpips", "table3-volumewise": "psnr", "table4-cnr": "cnr-diff-mean",
           "table5-lesion": "lesion-dice", "table5-change": None}


def change_endpoint(test_set: str) -> str:
    """The endpoint that sorts the change-read table of a test set."""
    return "change-any" if test_set == "A" else "change-kept"


def matrices(results: pd.DataFrame, test_set: str, endpoint: Endpoint) -> dict[str, np.ndarray]:
    """run -> (seeds, cases) values of ``endpoint`` on ``test_set`` (cases: the union over runs).

    Rows without a seed (schema 1, runs that do not learn) form one seed; seeds (and runs) without
    any finite value are left out. Empty when no finite value.
    """
    r = results[(results["test_set"] == test_set) & (results["metric"] == endpoint.metric)]
    if r.empty or not np.isfinite(r["value"].to_numpy(float)).any():
        return {}
    r = r.assign(_seed=r[SEED].fillna(-1) if SEED in r else -1.0)
    if not endpoint.region_mean:
        r = r[r["region"].fillna("") == ""]
    per = r.groupby(["run", "_seed", "case"], sort=True)["value"].mean()
    wide = per.unstack("case")
    out: dict[str, np.ndarray] = {}
    for run in dict.fromkeys(wide.index.get_level_values("run")):
        x = wide.loc[run].to_numpy(dtype=np.float64)
        x = x[np.isfinite(x).any(axis=1)]       # a seed without any value (e.g. a failed fit) is no seed
        if x.size:
            out[str(run)] = x
    return out


def rankings(results: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED,
             endpoint_keys: Collection[str] | None = None) -> dict[tuple[str, str], tuple[Endpoint, Ranking]]:
    """{(test set, endpoint key): (endpoint, ranking)} for every endpoint with values.

    Args:
        results: long-form results (a ``seed`` column optional).
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        endpoint_keys: only these endpoints (default: all of :func:`endpoints`).
    """
    out = {}
    for ts in sorted(set(results["test_set"].astype(str))):
        res = results[results["test_set"].astype(str) == ts]
        for ep in endpoints(ts):
            if endpoint_keys is not None and ep.key not in endpoint_keys:
                continue
            mats = matrices(res, ts, ep)
            if not mats:
                continue
            methods = [r for r in mats if r not in REFERENCES and not is_diagnostic(r)]
            out[(ts, ep.key)] = (ep, rank_runs(mats, higher=ep.higher, ranked=methods, names=(ts, ep.key),
                                               n_boot=n_boot, seed=seed, min_difference=min_meaningful(ep.metric)))
    return out


def ranking_frame(ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]]) -> pd.DataFrame:
    """ranking.csv: one row per (test set, endpoint, run) with mean, CI, seed SD, rank, rank CI, group."""
    rows = []
    for (ts, key), (ep, rk) in ranked.items():
        for r in rk.runs:
            rows.append({"test_set": ts, "endpoint": key, "metric": ep.metric, "higher_is_better": ep.higher,
                         "run": r.run, "seeds": r.n_seeds, "cases": r.n_cases, "mean": r.mean, "ci_lo": r.ci_lo,
                         "ci_hi": r.ci_hi, "seed_sd": r.seed_sd, "rank": r.rank, "rank_lo": r.rank_lo,
                         "rank_hi": r.rank_hi, "group": r.group if r.group else np.nan,
                         "n_boot": rk.n_boot, "bootstrap_seed": rk.seed, "min_difference": rk.min_difference})
    return pd.DataFrame(rows)


def pairwise_frame(ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]]) -> pd.DataFrame:
    """pairwise.csv: P(A > B) ('better' in the endpoint's direction) with its 95 % CI per ordered pair."""
    rows = [{"test_set": ts, "endpoint": key, "a": p.a, "b": p.b, "p_a_better": p.p, "ci_lo": p.lo,
             "ci_hi": p.hi, "decisive": p.decisive}
            for (ts, key), (_, rk) in ranked.items() for p in rk.pairs.values()]
    return pd.DataFrame(rows)


# -- how tables show it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RankOrder:
    """Methods of one endpoint best first, with their rank-group labels (for sorting other tables)."""

    endpoint: str
    methods: tuple[str, ...]
    labels: Mapping[str, str]

    def sort(self, runs: list[str]) -> list[str]:
        """``runs`` with the ranked methods in rank order; references and unranked runs keep their place
        (original FU first, FU2 last)."""
        ranked = [m for m in self.methods if m in runs]
        rest = [r for r in runs if r not in ranked and r not in REFERENCES]
        return ([r for r in runs if r == BASELINE] + ranked + rest + [r for r in runs if r == CEILING])

    def label(self, run: str) -> str:
        return self.labels.get(run, "")


def group_labels(rk: Ranking) -> dict[str, str]:
    """``"1"`` for a group of one, ``"2 (tie)"`` for a group shared by several methods."""
    sizes: dict[int, int] = {}
    for r in rk.runs:
        sizes[r.group] = sizes.get(r.group, 0) + 1
    return {r.run: (f"{r.group} (tie)" if sizes[r.group] > 1 else str(r.group)) for r in rk.runs if r.group}


def rank_order(ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]], test_set: str,
               key: str | None) -> RankOrder | None:
    """The :class:`RankOrder` of ``key`` on ``test_set``; None when it was not ranked."""
    if key is None or (test_set, key) not in ranked:
        return None
    rk = ranked[(test_set, key)][1]
    return RankOrder(key, tuple(r.run for r in rk.runs if r.group), group_labels(rk))


def _fmt(x: float, digits: int) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def _mean_ci(r: RunStats, digits: int) -> Cell:
    if not math.isfinite(r.mean):
        return Cell("n/a")
    ci = f" [{r.ci_lo:.{digits}f}, {r.ci_hi:.{digits}f}]" if math.isfinite(r.ci_lo) else ""
    return Cell(f"{r.mean:.{digits}f}{ci}", r.mean)


def seed_sd_cell(r: RunStats, digits: int, unseeded: Collection[str] = ()) -> Cell:
    """Between-seed SD, or why there is none: ``n/a (1 seed)``, ``— (not learned)`` for runs that do
    not learn (schema 2: no seed), ``—`` for reference rows."""
    if r.run in REFERENCES:
        return Cell("—")
    if r.n_seeds < 2:
        return Cell("— (not learned)" if r.run in unseeded else "n/a (1 seed)")
    return Cell(_fmt(r.seed_sd, digits), r.seed_sd)


def _rank_cell(r: RunStats) -> Cell:
    if not r.group:
        return Cell("diagnostic" if is_diagnostic(r.run) else "reference")
    return Cell(f"{r.rank:g} [{r.rank_lo:g}, {r.rank_hi:g}]", r.rank)


def _mmd(value: float) -> str:
    return f"{value:g}" if value > 0 else "none (decisive P(A > B) alone)"


def rank_table(ep: Endpoint, rk: Ranking, near_identity: Collection[str] = (),
               unseeded: Collection[str] = ()) -> Table:
    """Methods best first: rank group, rank [95 % CI], mean [95 % CI], between-seed SD, seeds."""
    labels = group_labels(rk)
    better = "higher" if ep.higher else "lower"
    table = Table(("run", "group", "rank [95 % CI]", f"{ep.label} [95 % CI]", "between-seed SD", "seeds", "cases"),
                  title=f"Rank groups, {better} is better; minimal meaningful difference "
                        f"{_mmd(rk.min_difference)}:")
    ordered = ([r for r in rk.runs if r.run == BASELINE] + [r for r in rk.runs if r.group]
               + [r for r in rk.runs if not r.group and r.run not in REFERENCES]     # diagnostics
               + [r for r in rk.runs if r.run == CEILING])
    for r in ordered:
        table.add(run_row(r.run, [Cell(labels.get(r.run, "—"), float(r.group) if r.group else None), _rank_cell(r),
                                  _mean_ci(r, ep.digits), seed_sd_cell(r, ep.digits, unseeded),
                                  Cell(str(r.n_seeds), float(r.n_seeds)), Cell(str(r.n_cases), float(r.n_cases))],
                          near_identity))
    return table


def pairwise_table(ep: Endpoint, rk: Ranking, near_identity: Collection[str] = ()) -> Table:
    """Rows A (methods best first), columns B (methods, then the original FU): P(A > B) [95 % CI];
    a decisive comparison (CI excludes ½) is bold."""
    methods = [r.run for r in rk.runs if r.group]
    diagnostic = [r.run for r in rk.runs if not r.group and r.run not in REFERENCES]
    cols = methods + diagnostic + [r for r in (BASELINE,) if any(x.run == r for x in rk.runs)]
    table = Table(("A \\ B", *(Column(run_label(c, near_identity)) for c in cols)),
                  title=f"P(A > B), {ep.label}: per case over all seed pairs (ties ½), mean over cases; "
                        "95 % CI; bold: decisive (CI excludes 0.5)")
    for a in methods:
        cells = []
        for b in cols:
            if a == b:
                cells.append(Cell("—"))
                continue
            p = rk.pair(a, b)
            text = "n/a" if not math.isfinite(p.p) else f"{p.p:.2f} [{p.lo:.2f}, {p.hi:.2f}]"
            cells.append(Cell(text, p.p if math.isfinite(p.p) else None, bold=p.decisive))
        table.add(run_row(a, cells, near_identity))
    return table


def ranking_blocks(ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]], test_set: str, dataset: str,
                   near_identity: Collection[str] = (), unseeded: Collection[str] = ()) -> list[Block]:
    """The ``table8-ranking`` document's blocks of one test set ([] when nothing was ranked)."""
    items = [(ep, rk) for (ts, _), (ep, rk) in ranked.items() if ts == test_set and ep.headline]
    if not items:
        return []
    seeds = sorted({r.n_seeds for _, rk in items for r in rk.runs if r.group})
    n_boot, boot_seed = items[0][1].n_boot, items[0][1].seed
    single = max(seeds, default=1) < 2            # no ranked method (only diagnostics): nothing to spread
    intro = spans("Dataset ", (dataset, "code"), f", test set {test_set}. Methods ranked per endpoint; the original "
                  "FU and the same-scanner FU2 are reference rows (not ranked). Mean over seeds and cases with a 95 % "
                  f"percentile CI from a two-level bootstrap ({n_boot} resamples, bootstrap seed {boot_seed}): "
                  "each resample draws every method's training seeds with replacement, then the test cases "
                  "(the same cases for every run). Rank [95 % CI]: rank of the mean (1 = best) and the interval "
                  "of its bootstrap distribution. ", ("Group", "bold"), ": methods are taken best first; a "
                  "method starts a new group only when its P(A > B) against the best method of the current group "
                  "has a CI excluding 0.5 and the two means differ by at least the endpoint's minimal meaningful "
                  "difference (given under each heading), so methods in one group are tied (not decisively, or "
                  "not meaningfully, different). "
                  "Definitions: docs/statistics.md.")
    blocks: list[Block] = [Heading("Rank groups and probability of improvement"), Paragraph(intro)]
    if single:
        blocks.append(Paragraph(spans(("One training seed per method", "bold"), ": the between-seed spread is "
                                      "unknown (n/a), and the bootstrap resamples cases only; seed-to-seed "
                                      "variation is not in these CIs."), quote=True))
    for ep, rk in items:
        blocks += [Heading(ep.label, 2), rank_table(ep, rk, near_identity, unseeded),
                   pairwise_table(ep, rk, near_identity)]
    return blocks


def unseeded_runs(results: pd.DataFrame, schema: int) -> set[str]:
    """Runs recorded without a seed in a schema-2 file: methods that do not learn."""
    if schema < 2 or SEED not in results:
        return set()
    has = results.groupby("run")[SEED].apply(lambda s: s.notna().any())
    return {str(r) for r, v in has.items() if not v and r not in REFERENCES}
