"""End-to-end harness on the phantom cohort: results, caching/resume, failure isolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench import registry
from harmbench.cli.main import cli
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import RESULT_COLUMNS, evaluate
from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod, Capabilities
from harmbench.runspec import parse_specs

FAST_METRICS = ["similarity", "cnr", "lesion", "change-read"]


class Exploding(BaseMethod):
    """Fails in transform for every case."""

    name = "exploding"
    capabilities = Capabilities(needs_training=False)

    def __init__(self):
        pass

    def _transform(self, fu, *, reference):
        raise RuntimeError("kaboom")


class Picky(BaseMethod):
    """Declines every dataset."""

    name = "picky"
    capabilities = Capabilities(needs_training=True, needs_template_space=True)

    def __init__(self):
        pass

    def _transform(self, fu, *, reference):
        return fu


class _Plugin:
    @hookimpl
    def harmbench_methods(self):
        return [Exploding, Picky]


@pytest.fixture
def extra_methods():
    registry.register_plugin(_Plugin(), "test-extra")
    yield
    registry.unregister_plugin("test-extra")


def _cfg(toy_manifest, tmp_path, methods="identity,histmatch,nyul", metrics=FAST_METRICS, **kw):
    return EvalConfig(dataset=str(toy_manifest), methods=parse_specs(methods), out=tmp_path / "lb",
                      work_dir=tmp_path / "work", metrics=metrics, **kw)


def test_evaluate_writes_long_results_and_tables(toy_manifest, tmp_path):
    res = evaluate(_cfg(toy_manifest, tmp_path))
    df = pd.read_csv(tmp_path / "lb" / "results.csv", dtype={"region": str, "case": str})
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df["run"]) == {"identity", "histmatch", "nyul", "original-fu", "same-scanner-fu2"}
    assert set(df["test_set"]) == {"A", "B"}
    # identity is exactly the original FU row
    a = df[(df.run == "identity") & (df.metric == "psnr")].set_index("case")["value"]
    b = df[(df.run == "original-fu") & (df.metric == "psnr")].set_index("case")["value"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_names=False)
    # the same-scanner ceiling beats the original FU on every case
    c = df[(df.run == "same-scanner-fu2") & (df.metric == "psnr")].set_index("case")["value"]
    assert (c.sort_index() > b.sort_index() + 5).all()
    for stem in ("table3-volumewise-testA.md", "table4-cnr-testA.md", "table5-change-testB.md", "report.html"):
        assert (tmp_path / "lb" / stem).exists()
    runs = json.loads((tmp_path / "lb" / "runs.json").read_text())
    assert runs["versions"]["scipy"] and runs["dataset"]["hash"]
    plat = runs["platform"]
    assert plat["cpu"] and plat["torch"] and plat["torch_threads"] >= 1 and plat["torch_cpu_capability"]
    assert not res.failures
    # harmonized NIfTI in the original range with the input affine
    files = runs["harmonized"]["histmatch|" + df.case.iloc[0]]
    import nibabel as nib

    from harmbench.harness.provenance import resolve_run_path

    # runs.json holds no absolute paths under the home folder: files are relative to the cache root
    assert not any(Path(f).is_absolute() for f in files.values())
    assert str(Path.home()) not in (tmp_path / "lb" / "runs.json").read_text() or str(tmp_path).startswith(
        str(Path.home()))
    native, harmonized = (resolve_run_path(runs, files[k]) for k in ("native", "harmonized"))
    assert nib.load(native).shape == nib.load(harmonized).shape


def test_rerun_is_fully_cached(toy_manifest, tmp_path, monkeypatch):
    evaluate(_cfg(toy_manifest, tmp_path))
    first = (tmp_path / "lb" / "results.csv").read_text()
    import harmbench.harness.units as units

    def boom(*a, **k):
        raise AssertionError("recomputed a cached unit")

    monkeypatch.setattr(units.BaseMethod, "transform", boom)
    monkeypatch.setattr(units.BaseMethod, "fit", boom)
    res = evaluate(_cfg(toy_manifest, tmp_path))
    assert not res.failures
    assert (tmp_path / "lb" / "results.csv").read_text() == first


def test_adding_a_metric_scores_only_that_metric(toy_manifest, tmp_path, monkeypatch):
    evaluate(_cfg(toy_manifest, tmp_path, metrics=["similarity"]))
    first = pd.read_csv(tmp_path / "lb" / "results.csv", dtype={"region": str})
    from harmbench.metrics.similarity import VolumeSimilarity

    def boom(*a, **k):
        raise AssertionError("re-scored a cached metric")

    monkeypatch.setattr(VolumeSimilarity, "compute", boom)
    res = evaluate(_cfg(toy_manifest, tmp_path, metrics=["similarity", "cnr"]))
    assert not res.failures
    df = pd.read_csv(tmp_path / "lb" / "results.csv", dtype={"region": str})
    assert {"cnr-diff", "cnr-noise-ratio"} <= set(df["metric"])
    old = df[df["metric"].isin(set(first["metric"]))].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, first)


def test_failures_and_declines_are_isolated(toy_manifest, tmp_path, extra_methods):
    res = evaluate(_cfg(toy_manifest, tmp_path, methods="identity,exploding,picky"))
    assert res.runs["skipped"]["picky"].startswith("needs images in a common template space")
    assert res.failures and all("kaboom" in f["error"] for f in res.failures)
    assert {f["stage"] for f in res.failures} == {"harmonize"}
    assert "identity" in set(res.results["run"])
    html = (tmp_path / "lb" / "report.html").read_text()
    assert "kaboom" in html and "picky" in html


def test_cli_exit_code_reports_failures(toy_manifest, tmp_path, extra_methods):
    args = ["evaluate", "--dataset", str(toy_manifest), "--methods", "identity,exploding",
            "--metrics", "similarity", "--out", str(tmp_path / "lb"), "--work-dir", str(tmp_path / "w")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output
    assert "kaboom" in res.output


def test_grid_runs_and_leaderboard_rerender(toy_manifest, tmp_path):
    evaluate(_cfg(toy_manifest, tmp_path, methods="nyul[n_landmarks=5,11]", test_sets=("A",)))
    df = pd.read_csv(tmp_path / "lb" / "results.csv")
    assert {"nyul[n_landmarks=5]", "nyul[n_landmarks=11]"} <= set(df["run"])
    (tmp_path / "lb" / "table3-volumewise-testA.md").unlink()
    res = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "lb")])
    assert res.exit_code == 0, res.output
    assert "nyul[n_landmarks=5]" in (tmp_path / "lb" / "table3-volumewise-testA.md").read_text()


def test_unknown_test_set_and_param(toy_manifest, tmp_path):
    from harmbench.errors import DataError

    with pytest.raises(DataError, match="unknown test set 'C'"):
        evaluate(_cfg(toy_manifest, tmp_path, test_sets=("C",)))
    with pytest.raises(DataError, match="unknown parameter"):
        evaluate(_cfg(toy_manifest, tmp_path, methods="nyul[bogus=1]"))


def test_histmatch_improves_psnr_on_toy(toy_manifest, tmp_path):
    res = evaluate(_cfg(toy_manifest, tmp_path, methods="histmatch"))
    df = res.results
    h = df[(df.run == "histmatch") & (df.metric == "psnr")]["value"].to_numpy()
    o = df[(df.run == "original-fu") & (df.metric == "psnr")]["value"].to_numpy()
    assert np.all(h > o + 3.0)


def test_explicit_default_parameter_shares_the_cache(toy_manifest, tmp_path, monkeypatch):
    evaluate(_cfg(toy_manifest, tmp_path, methods="nyul", test_sets=("A",)))
    import harmbench.harness.units as units

    def boom(*a, **k):
        raise AssertionError("refitted although only a default was spelled out")

    monkeypatch.setattr(units.BaseMethod, "fit", boom)
    res = evaluate(_cfg(toy_manifest, tmp_path, methods="nyul[n_landmarks=11]", test_sets=("A",)))
    assert not res.failures


def test_unavailable_metric_is_not_cached_and_loads_no_images(toy_manifest, tmp_path, monkeypatch):
    import harmbench.harness.units as units
    from harmbench.data.cohort import Cohort
    from harmbench.metrics.similarity import VolumeSimilarity

    def boom(*a, **k):
        raise AssertionError("loaded images for a metric that cannot run")

    monkeypatch.setattr(VolumeSimilarity, "available", lambda self: "no weights here")
    monkeypatch.setattr(units, "_scoring_context", boom)
    case = Cohort.from_manifest(toy_manifest).cases[0].case_id
    rec = tmp_path / "similarity.json"
    out = units.score_unit(case, str(toy_manifest), None, None, {"similarity": str(rec)})
    assert out["unavailable"] == {"similarity": "no weights here"}
    assert out["rows"] == [] and not rec.exists()
