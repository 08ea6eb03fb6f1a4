"""WorkLayout: the work directory's paths and keys, and the artifact-version key change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harmbench import registry
from harmbench.harness.cache import cache_key
from harmbench.harness.layout import WorkLayout
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.runspec import parse_specs


def test_paths_keep_the_on_disk_layout(tmp_path):
    layout = WorkLayout(tmp_path, "0123456789abcdef")
    run = layout.run("nyul", {"n_landmarks": 5}, 1)
    assert run.model_dir == tmp_path / "models" / f"nyul-{run.fit_key}"
    assert run.train_dir == tmp_path / "train" / f"nyul-{run.fit_key}"
    assert run.harmonized_dir("c7") == tmp_path / "harmonized" / f"nyul-{run.harmonize_key}" / "c7"
    assert run.fit_key != run.harmonize_key and all(len(k) == 16 for k in (run.fit_key, run.harmonize_key))
    policy = {"name": "similarity", "version": 1}
    key = layout.score_key(policy)
    # score and calibration keys are those of the records written before the layout existed
    assert key == cache_key(unit="score", metric=policy, dataset="0123456789abcdef")
    assert layout.score_records({"similarity": key}, run.score_dir, "c7") == {
        "similarity": str(tmp_path / "scores" / key / f"nyul-{run.harmonize_key}" / "c7.json")}
    calib = cache_key(unit="calibrate", metric=policy, dataset="0123456789abcdef")
    assert layout.calibration_record("change-read", policy) == tmp_path / "calibration" / f"change-read-{calib}.json"


def test_keys_depend_on_artifact_version_params_and_dataset(tmp_path):
    base = WorkLayout(tmp_path, "aaaa").run("nyul", {}, 1)
    for other in (WorkLayout(tmp_path, "aaaa").run("nyul", {}, 2),
                  WorkLayout(tmp_path, "aaaa").run("nyul", {"n_landmarks": 5}, 1),
                  WorkLayout(tmp_path, "bbbb").run("nyul", {}, 1)):
        assert other.fit_key != base.fit_key and other.harmonize_key != base.harmonize_key
    assert WorkLayout(tmp_path / "elsewhere", "aaaa").run("nyul", {}, 1).fit_key == base.fit_key


def test_keys_need_a_dataset_hash(tmp_path):
    assert WorkLayout(tmp_path).models == tmp_path / "models"
    with pytest.raises(ValueError, match="no dataset hash"):
        WorkLayout(tmp_path).run("nyul", {}, 1)


def test_a_new_artifact_version_refits_into_a_new_model_dir(toy_manifest, tmp_path, monkeypatch):
    def run():
        cfg = EvalConfig(dataset=str(toy_manifest), methods=parse_specs("nyul"), metrics=["similarity"],
                         test_sets=("A",), out=tmp_path / "lb", work_dir=tmp_path / "work", workers=1)
        res = evaluate(cfg)
        assert not res.failures
        return Path(next(r for r in res.runs["runs"] if r["run"] == "nyul")["model_dir"])

    old = run()
    monkeypatch.setattr(registry.get_method("nyul"), "artifact_version", 2)
    new = run()
    assert new != old and new.parent == old.parent == tmp_path / "work" / "models"
    assert json.loads((new / "artifact.json").read_text())["format_version"] == 2
    assert json.loads((old / "artifact.json").read_text())["format_version"] == 1  # left for older harmbench


def test_fit_keys_follow_effective_parameters_and_preset_values(toy_manifest, monkeypatch):
    """``m`` and ``m[p=default]`` share a cache; a changed default or preset value does not."""
    from harmbench.harness.plan import PlannedRun, build_runs
    from harmbench.harness.stages import StageContext

    def key(spec: str) -> str:
        cfg = EvalConfig(dataset=str(toy_manifest), methods=parse_specs(spec), seeds=(0,))
        run, = build_runs(cfg, "cpu")
        ctx = StageContext.__new__(StageContext)           # only run_cache's layout is needed
        object.__setattr__(ctx, "layout", WorkLayout(Path("/nonexistent"), "abcd"))
        return ctx.run_cache(PlannedRun(run.spec, run.params, None, run.seed)).fit_key

    nyul = registry.get_method("nyul")
    assert key("nyul") == key("nyul[n_landmarks=11]")      # 11 is the default
    before = key("nyul")
    monkeypatch.setattr(nyul, "__init__", _with_default(nyul.__init__, "n_landmarks", 9))
    assert key("nyul") != before                            # the code's default changed: refit
    gan = registry.get_method("pix2pix")
    before = key("pix2pix")
    monkeypatch.setattr(gan, "presets", {**gan.presets, "quick": {**gan.presets["quick"], "lr": 1e-3}})
    assert key("pix2pix") != before                         # the preset's values changed: refit


def _with_default(init, name, value):
    import functools
    import inspect

    sig = inspect.signature(init)
    params = [p.replace(default=value) if p.name == name else p for p in sig.parameters.values()]

    @functools.wraps(init)
    def wrapper(self, **kw):
        return init(self, **{name: value, **kw})

    wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper
