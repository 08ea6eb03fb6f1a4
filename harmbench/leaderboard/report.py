"""report.html: the leaderboard documents, figures and training curves through Jinja2 templates.

The page is ``templates/report.html.j2``; ``templates/blocks.html.j2`` renders the objects of
:mod:`harmbench.leaderboard.table` (a bold cell is ``<b>``, a reference row ``class="reference"``,
an "≈ identity" row ``class="near-identity"``). Autoescaping is on, so run names, reasons and
error messages are text, never markup. Figures are PNG bytes embedded as ``data:`` URIs, so the
page is a single self-contained file.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from harmbench.leaderboard import figures
from harmbench.leaderboard.ranking import Endpoint
from harmbench.leaderboard.table import Document, Table
from harmbench.leaderboard.training import training_runs, training_table
from harmbench.ranking import Ranking

BOX_METRICS = ["psnr", "ssim", "slice-lpips", "lesion-dice", "lesion-avg-hd"]
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Figure:
    """A PNG for the page; ``src`` is its ``data:`` URI."""

    alt: str
    png: bytes

    @property
    def src(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class TestSetSection:
    name: str
    documents: list[Document]
    figures: list[Figure] = field(default_factory=list)


@dataclass
class TrainingSection:
    table: Table
    figures: list[Figure]


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescaped, undefined names are errors)."""
    return Environment(loader=PackageLoader("harmbench.leaderboard", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _figures(pngs: list[tuple[bytes | None, str]]) -> list[Figure]:
    return [Figure(alt, png) for png, alt in pngs if png]


def training_section(meta: Mapping[str, Any]) -> TrainingSection | None:
    """Table and curves of every run whose runs.json entry has ``training`` (None if no run has)."""
    runs = training_runs(meta)
    if not runs:
        return None
    return TrainingSection(training_table(runs), _figures(
        [(figures.training_curves(run, t), f"training curves {run}") for run, t in sorted(runs.items())]))


def rank_figure(ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]], test_set: str) -> bytes | None:
    """The critical-difference-style rank diagram of a test set's headline endpoints (None if none)."""
    panels = [(ep.label, [(r.run, r.rank, r.rank_lo, r.rank_hi, r.group) for r in rk.runs if r.group])
              for (ts, _), (ep, rk) in ranked.items() if ts == test_set and ep.headline]
    return figures.rank_diagram(panels, f"Rank groups — test set {test_set} (bar: methods tied in one group)")


def report_html(results: pd.DataFrame, summary: pd.DataFrame, meta: Mapping[str, Any],
                documents: Mapping[str, Document], out: Path,
                ranked: Mapping[tuple[str, str], tuple[Endpoint, Ranking]] | None = None) -> str:
    """The self-contained report page.

    Args:
        results: long-form results, per-case values averaged over seeds (box plots).
        summary: :func:`harmbench.leaderboard.summary.summarize` of ``results``.
        meta: runs.json contents (provenance, skipped runs, failures, training summaries).
        documents: ``{file stem: document}`` of every test set, as written to Markdown.
        out: the leaderboard folder (its name, and montages under ``figures/``).
        ranked: rankings of :func:`harmbench.leaderboard.ranking.rankings` (the rank diagrams).
    """
    ds = meta.get("dataset", {})
    sections = []
    for ts in sorted(set(results["test_set"])):
        pngs = [(rank_figure(ranked or {}, str(ts)), f"rank diagram test {ts}")]
        pngs += [(figures.box_plot(results, summary, m, ts), f"box plot {m} test {ts}") for m in BOX_METRICS]
        pngs.append((figures.cnr_bars(summary, ts), f"CNR differences test {ts}"))
        pngs.append((figures.downstream_bars(summary, ts), f"scanner AUC and tissue volumes test {ts}"))
        docs = [documents[stem] for stem in sorted(k for k in documents if k.endswith(f"test{ts}"))]
        sections.append(TestSetSection(str(ts), docs, _figures(pngs)))
    figdir = out / "figures"
    montages = sorted(figdir.glob("montage-*.png")) if figdir.is_dir() else []
    return environment().get_template(TEMPLATE).render(
        name=str(ds.get("name", out.name)), version=str(meta.get("harmbench_version", "")),
        dataset_hash=str(ds.get("hash", "")), splits=str(ds.get("splits", "")),
        versions=json.dumps(meta.get("versions", {})), skipped=meta.get("skipped") or {},
        failures=meta.get("failures") or [], unavailable=meta.get("unavailable_metrics") or {},
        warnings=meta.get("report_warnings") or [], test_sets=sections, training=training_section(meta),
        montages=_figures([(p.read_bytes(), p.stem) for p in montages]))
