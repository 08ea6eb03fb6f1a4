"""A learned method's training history lands beside its model and, summarized, in runs.json."""

from __future__ import annotations

import json

import pytest

from harmbench import registry
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.hookspecs import hookimpl
from harmbench.runspec import parse_specs
from harmbench.training.history import HISTORY_FILE, TrainingHistory

from .gain_method import GainMethod, training_gain


class TinyLearned(GainMethod):
    """Learns one gain (mean BL / mean FU intensity over the training cases) and logs a fake curve."""

    name = "tiny-learned"

    def __init__(self, *, iterations: int = 3):
        self.iterations = iterations

    def _fit(self, cohort):
        self.gain_ = training_gain(cohort)
        rows = [{"iteration": i, "seconds": 0.1 * i, "loss_G": 1.0 / i, "val_ssim": 0.5 + 0.1 * i}
                for i in range(1, self.iterations + 1)]
        self.training_history_ = TrainingHistory(
            method=self.name, rows=rows, selection_metric="val_ssim", selected_iteration=self.iterations,
            identity_score=0.55, stop_reason="iteration_cap", iterations_run=self.iterations,
            iteration_cap=self.iterations)


class _Plugin:
    @hookimpl
    def harmbench_methods(self):
        return [TinyLearned]


@pytest.fixture
def tiny_learned():
    registry.register_plugin(_Plugin(), "test-tiny-learned")
    yield
    registry.unregister_plugin("test-tiny-learned")


def _evaluate(manifest, tmp_path):
    return evaluate(EvalConfig(dataset=str(manifest), methods=parse_specs("identity,tiny-learned[iterations=4]"),
                               metrics=["similarity"], test_sets=("A",), out=tmp_path / "lb",
                               work_dir=tmp_path / "work", workers=1))


def _run_entry(runs_json, name):
    return next(r for r in runs_json["runs"] if r["run"] == name)


def test_training_history_is_saved_and_summarized_also_when_cached(toy_manifest, tmp_path, tiny_learned,
                                                                    monkeypatch):
    res = _evaluate(toy_manifest, tmp_path)
    assert not res.failures
    runs = json.loads((tmp_path / "lb" / "runs.json").read_text())
    entry = _run_entry(runs, "tiny-learned[iterations=4]")
    model_dir = tmp_path / "work" / entry["model_dir"]
    saved = TrainingHistory.load(model_dir)
    assert (model_dir / HISTORY_FILE).is_file() and saved.iterations_run == 4
    assert [r["iteration"] for r in saved.rows] == [1, 2, 3, 4]
    summary = entry["training"]
    assert summary["selected_iteration"] == 4 and summary["stop_reason"] == "iteration_cap"
    assert summary["selected_score"] == pytest.approx(0.9)
    assert summary["gain_over_identity"] == pytest.approx(0.35)
    assert summary["curves"]["loss_G"] == [[1, 1.0], [2, 0.5], [3, 0.333333], [4, 0.25]]
    assert _run_entry(runs, "identity")["training"] is None  # nothing trained, nothing recorded

    def boom(*a, **k):
        raise AssertionError("refitted a cached model")

    monkeypatch.setattr(TinyLearned, "fit", boom)
    again = _evaluate(toy_manifest, tmp_path)
    assert not again.failures
    cached = _run_entry(json.loads((tmp_path / "lb" / "runs.json").read_text()), "tiny-learned[iterations=4]")
    assert cached["training"] == summary


def test_damaged_history_refits_the_model(toy_manifest, tmp_path, tiny_learned):
    first = _run_entry(_evaluate(toy_manifest, tmp_path).runs, "tiny-learned[iterations=4]")
    history = tmp_path / "work" / first["model_dir"] / HISTORY_FILE
    history.write_text("[1, 2")
    again = _evaluate(toy_manifest, tmp_path)
    assert not again.failures
    assert TrainingHistory.load(history.parent).iterations_run == 4
    assert _run_entry(again.runs, "tiny-learned[iterations=4]")["training"] == first["training"]
