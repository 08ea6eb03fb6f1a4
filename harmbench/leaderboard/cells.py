"""How numbers and runs appear in leaderboard cells: formats, run order, run labels and rows."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

from harmbench.leaderboard.names import BASELINE, CEILING
from harmbench.leaderboard.table import Cell, Column, Row, as_cells

REF_LABELS = {BASELINE: "original FU (reference)", CEILING: "FU2, same scanner (ceiling)"}
IDENTITY_SUFFIX = " (≈ identity)"
DIAGNOSTIC_SUFFIX = " (diagnostic)"
#: runs of the leaderboard being rendered whose method declares ``Capabilities.diagnostic``
_DIAGNOSTIC: ContextVar[frozenset[str]] = ContextVar("harmbench_diagnostic_runs", default=frozenset())


@contextmanager
def diagnostics(runs: Iterable[str]) -> Iterator[None]:
    """Render with ``runs`` marked "(diagnostic)": labelled, styled as reference rows, never
    ranked or bolded (:func:`harmbench.leaderboard.names.diagnostic_runs` reads them from runs.json)."""
    token = _DIAGNOSTIC.set(frozenset(runs))
    try:
        yield
    finally:
        _DIAGNOSTIC.reset(token)


def is_diagnostic(run: str) -> bool:
    """True if ``run`` is a diagnostic of the leaderboard being rendered."""
    return run in _DIAGNOSTIC.get()


def _nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_p(p: float | None) -> str:
    """``<.001``, ``.042``, ``1.000``; ``""`` when there is no P value."""
    if _nan(p):
        return ""
    return "<.001" if p < 0.001 else f"{p:.3f}".lstrip("0")


def fmt_mean_sd(mean: float | None, sd: float | None, digits: int = 3) -> str:
    """``0.872 ± 0.006``; ``n/a`` without a mean, no ``± SD`` without an SD."""
    if _nan(mean):
        return "n/a"
    if math.isinf(mean):
        return "inf"
    sd_s = "" if _nan(sd) else f" ± {sd:.{digits}f}"
    return f"{mean:.{digits}f}{sd_s}"


def fmt_diff(row: pd.Series, digits: int = 3) -> str:
    """``+4.12 [3.80, 4.44]``: mean paired difference vs original FU and its 95 % CI ('' if none)."""
    d = float(row.get("diff_mean", math.nan))
    if math.isnan(d):
        return ""
    lo, hi = float(row.get("diff_lo", math.nan)), float(row.get("diff_hi", math.nan))
    ci = "" if math.isnan(lo) or math.isnan(hi) else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{d:+.{digits}f}{ci}"


def number(x: float | None) -> float | None:
    """A cell's ``value``: a float, or None when missing."""
    return None if _nan(x) else float(x)


def p_cell(p: float | None) -> Cell:
    return Cell(fmt_p(p), number(p))


def mean_cell(mean: float | None, sd: float | None = None, digits: int = 3, bold: bool = False) -> Cell:
    return Cell(fmt_mean_sd(mean, sd, digits), number(mean), bold)


def _natural(run: str) -> list:
    """Sort key that orders ``m[lam=5]`` before ``m[lam=10]``."""
    return [float(t) if t.replace(".", "", 1).isdigit() else t for t in re.split(r"(\d+(?:\.\d+)?)", run)]


def run_order(summary: pd.DataFrame) -> list[str]:
    """Runs of ``summary``: original FU first, methods in natural order, the same-scanner ceiling last."""
    runs = list(dict.fromkeys(summary["run"]))
    methods = [r for r in runs if r not in (BASELINE, CEILING)]
    return ([r for r in (BASELINE,) if r in runs] + sorted(methods, key=_natural)
            + [r for r in (CEILING,) if r in runs])


def run_label(run: str, near_identity: Collection[str] = ()) -> str:
    """Display name of a run: reference rows spelled out, " (diagnostic)" or " (≈ identity)" appended
    when flagged (a diagnostic is labelled as such only: the identity is ≈ identity by design)."""
    if is_diagnostic(run):
        return run + DIAGNOSTIC_SUFFIX
    return REF_LABELS.get(run, run) + (IDENTITY_SUFFIX if run in near_identity else "")


def run_row(run: str, cells: Iterable[Cell | str], near_identity: Collection[str] = (), *,
            before: Iterable[Cell | str] = ()) -> Row:
    """The row of ``run``: ``before`` (e.g. its test set), its label, then ``cells``; flagged
    reference / ≈ identity."""
    return Row((*as_cells(before), Cell(run_label(run, near_identity)), *as_cells(cells)),
               reference=run in REF_LABELS or is_diagnostic(run),
               near_identity=run in near_identity and not is_diagnostic(run))


def run_column(run: str, near_identity: Collection[str] = ()) -> Column:
    """A column headed by ``run`` (runs as columns), with the same flags as :func:`run_row`."""
    return Column(run_label(run, near_identity), reference=run in REF_LABELS or is_diagnostic(run),
                  near_identity=run in near_identity and not is_diagnostic(run))
