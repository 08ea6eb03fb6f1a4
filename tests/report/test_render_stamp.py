"""A rerun with unchanged inputs reuses the rendered leaderboard; any input change re-renders."""

from __future__ import annotations

import json
import os

from harmbench.leaderboard.render import render_leaderboards
from harmbench.leaderboard.stamp import STAMP_FILE


def _folder(tmp_path, make_results):
    out = tmp_path / "lb"
    out.mkdir()
    make_results({"Y": (3.0, 0.3, 0.05), "X": (0.5, 0.1, 0.02)}).to_csv(out / "results.csv", index=False)
    (out / "runs.json").write_text(json.dumps({"dataset": {"name": "toy"}, "timings": {"total": 100.0}}))
    return out


def _mtimes(files):
    return {str(f): os.stat(f).st_mtime_ns for f in files}


def test_unchanged_inputs_reuse_the_rendering_and_changes_rerender(tmp_path, make_results):
    out = _folder(tmp_path, make_results)
    first = render_leaderboards(out, reuse=True)
    assert (out / STAMP_FILE).is_file() and (out / "report.html") in first
    before = _mtimes(first)

    # a rerun that only differs in its timings: nothing is rewritten
    (out / "runs.json").write_text(json.dumps({"dataset": {"name": "toy"}, "timings": {"total": 3.0}}))
    again = render_leaderboards(out, reuse=True)
    assert sorted(map(str, again)) == sorted(map(str, first)) and _mtimes(again) == before

    # without reuse (harmbench leaderboard DIR) it renders
    render_leaderboards(out)
    assert _mtimes(first) != before

    # a missing output re-renders it
    (out / "table3-volumewise-testA.md").unlink()
    render_leaderboards(out, reuse=True)
    assert (out / "table3-volumewise-testA.md").is_file()

    # changed results re-render: the table shows the new value
    df = make_results({"Y": (4.0, 0.3, 0.05), "X": (0.5, 0.1, 0.02)})
    df.to_csv(out / "results.csv", index=False)
    old = (out / "table3-volumewise-testA.md").read_text()
    render_leaderboards(out, reuse=True)
    assert (out / "table3-volumewise-testA.md").read_text() != old


def test_the_stamp_covers_the_harness_images_keyed_by_run_and_case(tmp_path, make_results):
    from harmbench.leaderboard.stamp import render_stamp

    out = _folder(tmp_path, make_results)
    a = render_stamp(out, {("Y", "c0"): {"FU": "/w/a.nii.gz"}}, "m.csv")
    assert a == render_stamp(out, {("Y", "c0"): {"FU": "/w/a.nii.gz"}}, "m.csv")
    assert a != render_stamp(out, {("Y", "c0"): {"FU": "/w/b.nii.gz"}}, "m.csv") != render_stamp(out, None, None)


def test_a_damaged_stamp_renders_again(tmp_path, make_results):
    out = _folder(tmp_path, make_results)
    render_leaderboards(out, reuse=True)
    (out / STAMP_FILE).write_text("{not json")
    files = render_leaderboards(out, reuse=True)
    assert json.loads((out / STAMP_FILE).read_text())["written"] and all(f.is_file() for f in files)
