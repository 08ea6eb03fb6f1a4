"""Training seeds as a dimension of a run: planning, caching per seed, results.csv and runs.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench import registry
from harmbench.cli.main import cli
from harmbench.errors import OptionError
from harmbench.harness.layout import WorkLayout
from harmbench.harness.plan import EvalConfig, PlannedRun, build_runs
from harmbench.harness.runner import RESULT_COLUMNS, RESULTS_SCHEMA, first_seed_images
from harmbench.harness.seeds import DEFAULT_SEEDS, check_seeds, parse_seeds, seeded_params
from harmbench.hookspecs import hookimpl
from harmbench.runspec import parse_specs

from .gain_method import GainMethod, training_gain

#: seeds every Seeded fit was called with, in call order
FITTED: list[int] = []


class Seeded(GainMethod):
    """Learns a gain (mean BL / mean FU over the training cases) nudged by its seed: seeds differ."""

    name = "seeded"

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    def _fit(self, cohort):
        FITTED.append(self.seed)
        self.gain_ = training_gain(cohort) * (1.0 + 0.02 * self.seed)


class _Plugin:
    @hookimpl
    def harmbench_methods(self):
        return [Seeded]


@pytest.fixture(scope="module")
def seeded_plugin():
    registry.register_plugin(_Plugin(), "test-seeded")
    yield
    registry.unregister_plugin("test-seeded")


@pytest.fixture
def seeded(seeded_plugin):
    """The ``seeded`` method registered; yields :data:`FITTED`, emptied."""
    FITTED.clear()
    return FITTED


# --- seed lists ---------------------------------------------------------------------------------

def test_parse_seeds_counts_and_lists():
    assert parse_seeds("3") == (0, 1, 2) == DEFAULT_SEEDS
    assert parse_seeds("1") == (0,)
    assert parse_seeds("0,4,7") == (0, 4, 7)
    assert parse_seeds(" 5, ") == (5,)              # a comma makes it a list: the single seed 5


@pytest.mark.parametrize("text, needle", [("0", "asks for no seed"), ("-2", "asks for no seed"),
                                          ("a", "neither a number"), ("0,x", "not an integer"),
                                          ("1,2,1", "seed(s) 1 given twice"), ("0,-1", "seed -1")])
def test_parse_seeds_refuses_bad_values(text, needle):
    with pytest.raises(OptionError) as exc:
        parse_seeds(text)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_check_seeds_refuses_empty_and_non_integers():
    with pytest.raises(OptionError, match="no seeds"):
        check_seeds(())
    with pytest.raises(OptionError, match="not a non-negative integer"):
        check_seeds((1.5,))
    with pytest.raises(OptionError, match="not a non-negative integer"):
        check_seeds((True,))


def test_seeded_params_one_fit_per_seed_unless_fixed_or_not_learning():
    assert seeded_params({"n": 1}, {"n": 2}, (0, 1)) == [({"n": 2}, None)]
    assert seeded_params({"seed": 0}, {}, (0, 4)) == [({"seed": 0}, 0), ({"seed": 4}, 4)]
    assert seeded_params({"seed": 0}, {"seed": 5}, (0, 4)) == [({"seed": 5}, 5)]
    both = {"seed": 0, "random_state": None}
    assert seeded_params(both, {}, (3,)) == [({"seed": 3, "random_state": 3}, 3)]
    assert seeded_params(both, {"random_state": 2}, (0, 1)) == [({"seed": 2, "random_state": 2}, 2)]


# --- planning and cache keys --------------------------------------------------------------------

def _fit_keys(runs) -> list[str]:
    layout = WorkLayout(Path("/nonexistent"), "abcd")
    out = []
    for r in runs:
        cls = registry.get_method(r.spec.method)
        out.append(layout.run(r.spec.method, dict(sorted({**cls.param_defaults(), **r.params}.items())),
                              cls.artifact_version).fit_key)
    return out


def test_build_runs_fits_learned_methods_once_per_seed(seeded):
    cfg = EvalConfig(methods=parse_specs("identity,nyul,seeded,seeded[seed=5]"), seeds=(0, 4))
    runs = build_runs(cfg, "cpu")
    assert [(r.spec.name, r.seed) for r in runs] == [("identity", None), ("nyul", None), ("seeded", 0),
                                                      ("seeded", 4), ("seeded[seed=5]", 5)]
    assert [r.method.get_params().get("seed") for r in runs] == [None, None, 0, 4, 5]
    keys = _fit_keys(runs)
    assert len(set(keys)) == len(keys)              # each seed has its own model, images and scores
    # seed 0 keeps the key a one-seed run has; the spec's seed=5 is the same fit as --seeds 5,
    assert _fit_keys(build_runs(EvalConfig(methods=parse_specs("seeded"), seeds=(0,)), "cpu")) == [keys[2]]
    assert _fit_keys(build_runs(EvalConfig(methods=parse_specs("seeded"), seeds=(5,)), "cpu")) == [keys[4]]
    assert [PlannedRun(r.spec, r.params, None, r.seed).key for r in runs] == [
        "identity", "nyul", "seeded seed 0", "seeded seed 4", "seeded[seed=5] seed 5"]


def test_built_in_learners_are_the_methods_that_declare_a_seed():
    """Which built-ins are fitted per seed: the GANs; identity, histmatch, Nyúl and ComBat run once."""
    from harmbench.harness.seeds import seed_params

    learners = {n for n in registry.methods() if seed_params(registry.get_method(n).param_defaults())}
    assert {"histmatch", "identity", "nyul", "combat"}.isdisjoint(learners)
    assert {"pix2pix", "cyclegan", "oml-cyclegan", "stgan"} <= learners


def test_build_runs_checks_the_seed_list():
    with pytest.raises(OptionError, match="given twice"):
        build_runs(EvalConfig(methods=parse_specs("identity"), seeds=(1, 1)), "cpu")


def test_first_seed_images_picks_each_runs_first_seed():
    from harmbench.runspec import RunSpec

    runs = (PlannedRun(RunSpec("m"), {"seed": 3}, None, 3), PlannedRun(RunSpec("m"), {"seed": 1}, None, 1),
            PlannedRun(RunSpec("identity"), {}, None, None))
    harm = {("m seed 3", "c1"): {"files": {"harmonized": "a"}}, ("m seed 1", "c1"): {"files": {"harmonized": "b"}},
            ("identity", "c1"): {"files": {"harmonized": "c"}}}
    assert first_seed_images(runs, harm) == {("m", "c1"): {"harmonized": "a"}, ("identity", "c1"): {"harmonized": "c"}}


# --- end to end -----------------------------------------------------------------------------------

def _evaluate_cli(manifest, root: Path, *seed_args: str, out: str = "lb"):
    """``harmbench evaluate`` of identity and seeded on test set A into ``root``: (results, runs.json)."""
    args = ["evaluate", "--dataset", str(manifest), "--methods", "identity,seeded", "--metrics", "similarity",
            "--test-sets", "A", "--out", str(root / out), "--work-dir", str(root / "work"),
            "--workers", "1", *seed_args]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(root / out / "results.csv", dtype={"case": str, "region": str})
    runs = json.loads((root / out / "runs.json").read_text())
    return df, runs


@pytest.fixture(scope="module")
def two_seeds(toy_manifest, tmp_path_factory, seeded_plugin):
    """One ``--seeds 2`` evaluate: its folder, results, runs.json and the seeds fitted."""
    FITTED.clear()
    root = tmp_path_factory.mktemp("two-seeds")
    df, runs = _evaluate_cli(toy_manifest, root, "--seeds", "2")
    return root, df, runs, list(FITTED)


@pytest.fixture
def warm(two_seeds, tmp_path, seeded):
    """A copy of :func:`two_seeds`'s work directory in ``tmp_path`` (each test resumes its own copy)."""
    root = two_seeds[0]
    shutil.copytree(root / "work", tmp_path / "work")
    return tmp_path


def _models(runs) -> dict[int, str]:
    return {r["seed"]: r["model_dir"] for r in runs["runs"] if r["run"] == "seeded"}


def test_two_seeds_fit_the_learned_method_twice(two_seeds):
    _, df, runs, fitted = two_seeds
    assert sorted(fitted) == [0, 1]                 # the learned method twice, identity never
    assert list(df.columns) == RESULT_COLUMNS
    seeds = {run: sorted(g["seed"].dropna().astype(int).unique()) for run, g in df.groupby("run")}
    assert seeds == {"seeded": [0, 1], "identity": [], "original-fu": [], "same-scanner-fu2": []}
    assert df.loc[df["run"] != "seeded", "seed"].isna().all()
    psnr = df[(df["run"] == "seeded") & (df["metric"] == "psnr")].pivot(index="case", columns="seed",
                                                                          values="value")
    assert len(psnr) >= 2 and (psnr[0] != psnr[1]).all()   # distinct seeds: different images
    ident = df[(df["run"] == "identity") & (df["metric"] == "psnr")]
    assert len(ident) == len(psnr)                  # identity runs once: one value per case
    # the leaderboard renders (seeds averaged for now) and the montages show the first seed's images
    root = two_seeds[0] / "lb"
    assert list((root / "figures").glob("montage-test-A-*.png"))
    assert "montage failed" not in (root / "report.html").read_text()
    assert "seeded" in (root / "table3-volumewise-testA.md").read_text()


def test_runs_json_has_the_schema_and_one_entry_per_fit(two_seeds):
    runs = two_seeds[2]
    assert runs["results_schema"] == RESULTS_SCHEMA == 2
    assert runs["config"]["seeds"] == [0, 1] and runs["config"]["seed"] == 0
    assert [(r["run"], r["seed"]) for r in runs["runs"]] == [("identity", None), ("seeded", 0), ("seeded", 1)]
    assert [r["params"].get("seed") for r in runs["runs"]] == [None, 0, 1]
    models = _models(runs)
    assert models[0] != models[1]


def test_rerun_is_fully_cached(toy_manifest, two_seeds, warm, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("recomputed a cached unit")

    monkeypatch.setattr(Seeded, "_transform", boom)
    monkeypatch.setattr(Seeded, "_fit", boom)
    _evaluate_cli(toy_manifest, warm, "--seeds", "2")
    assert (warm / "lb" / "results.csv").read_text() == (two_seeds[0] / "lb" / "results.csv").read_text()


def test_a_lost_seed_model_refits_only_that_seed(toy_manifest, two_seeds, warm, seeded):
    shutil.rmtree(warm / "work" / _models(two_seeds[2])[1])   # e.g. an interrupted run
    _evaluate_cli(toy_manifest, warm, "--seeds", "2")
    assert seeded == [1]
    assert (warm / "lb" / "results.csv").read_text() == (two_seeds[0] / "lb" / "results.csv").read_text()


def test_an_explicit_list_reuses_seed_0_and_fits_only_new_seeds(toy_manifest, two_seeds, warm, seeded):
    df4, runs4 = _evaluate_cli(toy_manifest, warm, "--seeds", "0,4")
    assert seeded == [4]
    assert sorted(df4.loc[df4["run"] == "seeded", "seed"].astype(int).unique()) == [0, 4]
    assert [r["seed"] for r in runs4["runs"] if r["run"] == "seeded"] == [0, 4]
    df = two_seeds[1]
    pd.testing.assert_frame_equal(df4[df4["seed"] == 0].reset_index(drop=True),
                                  df[df["seed"] == 0].reset_index(drop=True))


def test_seed_shorthand_fits_that_one_seed(toy_manifest, tmp_path, seeded):
    df, runs = _evaluate_cli(toy_manifest, tmp_path, "--seed", "3")
    assert seeded == [3]
    assert set(df.loc[df["run"] == "seeded", "seed"]) == {3}
    assert runs["config"]["seeds"] == [3]


def test_a_seed_in_the_spec_overrides_the_runs_seeds(toy_manifest, tmp_path, seeded):
    from harmbench.harness.runner import evaluate

    cfg = EvalConfig(dataset=str(toy_manifest), methods=parse_specs("seeded[seed=7]"), metrics=["similarity"],
                     test_sets=("A",), out=tmp_path / "lb", work_dir=tmp_path / "work", seeds=(0, 1, 2))
    res = evaluate(cfg)
    assert not res.failures and seeded == [7]       # fitted once, with the spec's seed
    assert set(res.results.loc[res.results["run"] == "seeded[seed=7]", "seed"]) == {7}


def test_runs_json_records_the_first_seeds_images(toy_manifest, tmp_path, seeded):
    _, runs = _evaluate_cli(toy_manifest, tmp_path, "--seeds", "1,0")
    assert [r["seed"] for r in runs["runs"] if r["run"] == "seeded"] == [1, 0]
    layout = WorkLayout(tmp_path / "work", runs["dataset"]["hash"])
    dirs = {s: layout.run("seeded", {"seed": s}, Seeded.artifact_version).score_dir for s in (0, 1)}
    assert dirs[0] != dirs[1]
    files = [f for k, f in runs["harmonized"].items() if k.startswith("seeded|")]
    assert files and {Path(f["harmonized"]).parts[:2] for f in files} == {("harmonized", dirs[1])}
    assert (layout.harmonized / dirs[0]).is_dir()   # the other seed's images live in their own folder


def test_schema_1_results_still_load_and_render(tmp_path):
    """A results.csv written before seeds existed (no seed column, no results_schema) loads and renders."""
    from harmbench.leaderboard.render import load_results, render_leaderboards

    rows = [{"dataset": "toy", "test_set": "A", "method": m, "run": r, "case": f"c{i}", "metric": "psnr",
             "region": "", "value": 20.0 + i + gain}
            for r, m, gain in (("original-fu", "reference", 0.0), ("nyul", "nyul", 2.0)) for i in range(4)]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "runs.json").write_text(json.dumps({"dataset": {"name": "toy"}, "runs": []}))
    df, meta = load_results(tmp_path)
    assert df["seed"].isna().all() and "results_schema" not in meta   # the loader adds an empty seed
    assert len(df) == 8 and df["value"].sum() == pytest.approx(8 * 20 + 2 * 6 + 4 * 2)
    render_leaderboards(tmp_path)
    assert "nyul" in (tmp_path / "table3-volumewise-testA.md").read_text()
