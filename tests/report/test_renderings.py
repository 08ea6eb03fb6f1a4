"""One Table, three renderings: Markdown, HTML (Jinja2 templates) and the terminal (rich)."""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from harmbench.console import BOLD_STYLE, NEAR_IDENTITY_STYLE, REFERENCE_STYLE, rich_table
from harmbench.leaderboard import markdown as tables
from harmbench.leaderboard.render import render_leaderboards, terminal_summary
from harmbench.leaderboard.summary import summarize
from harmbench.leaderboard.table import Cell, Document, Heading, Paragraph, Table, spans, to_markdown
from harmbench.training.history import TrainingHistory
from harmbench.training.history import summarize as summarize_history

ROOT = Path(__file__).parents[2]
COMMITTED = [ROOT / "leaderboards" / "synth-quick", ROOT / "leaderboards" / "synth-quick" / "oml-ablation"]
ODD = "m[a=<b>]"          # a run name that is markup in HTML and in rich


class _Cells(HTMLParser):
    """Rows of an HTML page as (row classes, [(cell text, cell is bold)]), plus every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[tuple[str, bool]]]] = []
        self.tags: list[str] = []
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag in ("td", "th"):
            self._cell = ["", False]
        elif tag == "b" and self._cell is not None:
            self._cell[1] = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def row(self, label: str, width: int | None = None) -> tuple[str, list[tuple[str, bool]]]:
        """The first row labelled ``label`` (of a table ``width`` columns wide, if given)."""
        return next(r for r in self.rows if r[1] and r[1][0][0] == label and width in (None, len(r[1])))


def _parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def _leaderboard(tmp_path: Path, make_results, runs_meta: dict | None = None) -> Path:
    """A leaderboard folder with results.csv (Y clearly better, X ≈ identity, ODD) and runs.json."""
    out = tmp_path / "lb"
    out.mkdir()
    res = make_results({"Y": (3.0, 0.3, 0.05), "X": (0.01, 0.001, 3e-4), ODD: (0.1, 0.3, 0.02)})
    res.to_csv(out / "results.csv", index=False)
    meta = {"dataset": {"name": "toy"}, "skipped": {"<script>bad</script>": "needs <gpu>"}, **(runs_meta or {})}
    (out / "runs.json").write_text(json.dumps(meta))
    render_leaderboards(out)
    return out


def test_table_markdown_is_pipe_table_with_bold_escaped_pipes_title_and_notes():
    t = Table(("run", "median |error|", "P"), title="Change read, exact 95 % CI:",
              notes=(spans("lower is ", ("better", "bold"), "."),))
    t.add(["a", Cell("0.50", 0.5, bold=True), Cell(".042", 0.042)])
    t.add(["b|c", Cell(""), Cell("")], reference=True)
    assert to_markdown(t) == ("Change read, exact 95 % CI:\n\n"
                              "| run | median \\|error\\| | P |\n|---|---|---|\n"
                              "| a | **0.50** | .042 |\n| b\\|c |  |  |\n\nlower is **better**.\n")
    doc = Document([Heading("Title"), Paragraph(spans("Dataset ", ("toy", "code")), quote=True), t])
    assert to_markdown(doc).startswith("# Title\n\n> Dataset `toy`\n\nChange read")
    with pytest.raises(ValueError, match="has 2 cells; the table has 3 columns"):
        t.add(["short", "row"])


def test_table_rows_keep_values_and_flags(make_results):
    s = summarize(make_results({"Y": (3.0, 0.3, 0.05), "X": (0.01, 0.001, 3e-4)}))
    t = tables.metric_table(s, ["psnr"])
    by_run = {r.cells[0].text: r for r in t.rows}
    y = s[(s["run"] == "Y") & (s["metric"] == "psnr")].iloc[0]
    assert by_run["Y"].cells[1].bold and by_run["Y"].cells[1].value == pytest.approx(y["mean"])
    assert by_run["Y"].cells[2].value == pytest.approx(y["diff_mean"])
    assert by_run["X (≈ identity)"].near_identity and not by_run["X (≈ identity)"].cells[1].bold
    assert by_run["original FU (reference)"].reference and by_run["original FU (reference)"].cells[3].value is None


def test_html_escapes_names_and_keeps_bold_and_identity_flags(tmp_path, make_results):
    out = _leaderboard(tmp_path, make_results)
    html = (out / "report.html").read_text()
    assert "m[a=&lt;b&gt;]" in html and ODD not in html
    assert "&lt;script&gt;bad&lt;/script&gt;" in html and "script" not in _parse(html).tags
    page = _parse(html)
    cls, cells = page.row("Y")
    assert cells[1][0] == "1"                                            # Y's PSNR rank group: alone, first
    assert cells[2][1] and not any(bold for _, bold in cells[3:])       # the PSNR mean, and only it, bold
    assert page.row("X (≈ identity)")[0] == "near-identity"
    assert not any(bold for _, bold in page.row("X (≈ identity)")[1])
    assert page.row("original FU (reference)")[0] == "reference"
    assert page.row(ODD)[1][0][0] == ODD                                    # the text, unescaped once parsed
    md = (out / "table3-volumewise-testA.md").read_text()
    assert f"| {ODD} |" in md and "| X (≈ identity) |" in md


def test_terminal_rendering_keeps_bold_identity_and_literal_names(tmp_path, make_results):
    s = summarize(make_results({"Y": (3.0, 0.3, 0.05), "X": (0.01, 0.001, 3e-4), ODD: (0.1, 0.3, 0.02)}))
    rt = rich_table(tables.metric_table(s, ["psnr"]))
    labels = [c.plain for c in rt.columns[0]._cells]
    y, x, ref = labels.index("Y"), labels.index("X (≈ identity)"), labels.index("original FU (reference)")
    psnr = rt.columns[1]._cells
    assert BOLD_STYLE in str(psnr[y].style) and BOLD_STYLE not in str(psnr[x].style)
    assert rt.rows[x].style == NEAR_IDENTITY_STYLE and rt.rows[ref].style == REFERENCE_STYLE
    assert rt.rows[y].style in (None, "")
    console = Console(record=True, width=200)
    console.print(rt)
    assert ODD in console.export_text()

    _, headline = terminal_summary(_leaderboard(tmp_path, make_results))
    rt = rich_table(headline)
    assert [c.header.plain for c in rt.columns] == ["test set", "run", "PSNR group", "PSNR (dB) [95 % CI]", "SSIM",
                                                    "changed calls"]
    runs = [c.plain for c in rt.columns[1]._cells]
    assert runs[:2] == ["original FU (reference)", "Y"] and ODD in runs          # sorted by PSNR rank
    assert [c.plain for c in rt.columns[2]._cells][1] == "1"
    assert rt.rows[runs.index("X (≈ identity)")].style == NEAR_IDENTITY_STYLE


def _history() -> dict:
    rows = [{"iteration": it, "loss_G": 2 / math.sqrt(it), "loss_D": 0.6,
             **({"val_ssim": 0.80 + it / 10_000} if it % 60 == 0 else {})} for it in range(20, 260, 20)]
    return summarize_history(TrainingHistory(method="g", rows=rows, selection_metric="val_ssim",
                                             selected_iteration=180, identity_score=0.79, stop_reason="patience",
                                             iterations_run=240, iteration_cap=600))


def test_report_has_a_training_section_only_for_runs_with_training(tmp_path, make_results):
    meta = {"runs": [{"run": "Y", "training": _history()}, {"run": ODD, "training": None}, {"run": "X"}]}
    html = (_leaderboard(tmp_path, make_results, meta) / "report.html").read_text()
    page = _parse(html)
    assert 'id="training"' in html
    training_rows = [r for r in page.rows if r[1] and r[1][0][0] == "Y" and len(r[1]) == 9]
    run, its, stop, metric, selected, score, ident, gain, near = (c for c, _ in training_rows[-1][1])  # last section
    assert (its, stop, metric, selected, near) == ("240 / 600", "patience", "val_ssim", "180", "—")
    assert (float(score), float(ident), float(gain)) == pytest.approx((0.818, 0.79, 0.028))
    assert html.count('alt="training curves ') == 1 and 'alt="training curves Y"' in html
    start = next(i for i, r in enumerate(page.rows) if len(r[1]) == 9 and r[1][1][0] == "iterations run / cap")
    training = []
    for r in page.rows[start + 1:]:                  # the training table's body, up to the next table
        if len(r[1]) != 9 or r[1][0][0] == "run":
            break
        training.append(r[1][0][0])
    assert training == ["Y"]                       # ODD (training: None) and X (no key) are absent


def test_report_without_training_info_renders(tmp_path, make_results):
    html = (_leaderboard(tmp_path, make_results, {"runs": [{"run": "Y", "fit_seconds": 1.0}]})
            / "report.html").read_text()
    assert 'id="training"' not in html and "training curves" not in html
    assert _parse(html).row("Y")


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_committed_leaderboards_rerender_to_the_same_markdown(tmp_path, folder):
    if not (folder / "results.csv").exists():
        pytest.skip(f"no committed leaderboard in {folder}")
    out = tmp_path / folder.name
    out.mkdir()
    for name in ("results.csv", "runs.json"):
        shutil.copy(folder / name, out / name)
    render_leaderboards(out)
    committed = sorted(p.name for p in folder.glob("table*.md"))
    rendered = sorted(p.name for p in out.glob("table*.md"))
    assert committed and set(committed) <= set(rendered)
    assert {n for n in rendered if n.startswith("table8-ranking-")}        # rank groups from results alone
    if not any(n.startswith("table8-ranking-") for n in committed):
        pytest.skip("committed leaderboard predates rank groups; re-render it (harmbench leaderboard DIR)")
    assert rendered == committed
    for name in committed:
        assert (out / name).read_text() == (folder / name).read_text(), name


def test_terminal_summary_equals_the_headline_of_the_full_summary(tmp_path, make_results):
    """The terminal summarizes only the headline's metrics; its cells must not change for that."""
    from harmbench.leaderboard.markdown import headline
    from harmbench.leaderboard.ranking import rankings
    from harmbench.leaderboard.render import load_results

    out = _leaderboard(tmp_path, make_results)
    results, _ = load_results(out)
    test_sets = sorted(set(results["test_set"]))
    full = headline(summarize(results), test_sets, rankings(results, endpoint_keys=("psnr",)))
    _, fast = terminal_summary(out)
    cells = lambda t: [[(c.text, c.value) for c in row.cells] for row in t.rows]   # noqa: E731
    assert cells(fast) == cells(full) and fast.title == full.title
