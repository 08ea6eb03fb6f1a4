"""Convergence-based stopping and the identity check of the training kit (issue #23)."""

from __future__ import annotations

import warnings

import pytest

from harmbench.errors import DataError
from harmbench.training.history import TrainingHistory, summarize
from harmbench.training.loop import LoopConfig, NearIdentityWarning, Selection
from harmbench.training.stopping import Patience, identity_check
from test_loop import ToyModel, _fit


def _rows(values, metric="val_psnr", every=10):
    return [{"iteration": every * (i + 1), metric: v} for i, v in enumerate(values)]


def test_patience_counts_points_since_the_smoothed_best():
    rule = Patience(metric="val_psnr", patience=2, min_delta=0.0, window=1)
    assert rule.since_best(_rows([1, 2, 3])) == 0 and not rule.should_stop(_rows([1, 2, 3]))
    assert rule.since_best(_rows([1, 3, 2])) == 1 and not rule.should_stop(_rows([1, 3, 2]))
    assert rule.should_stop(_rows([1, 3, 2, 2.5]))                     # two points below the best
    # rows without the metric (no validation there) are skipped
    assert rule.since_best([{"iteration": 5}, *_rows([1, 3, 2, 2.5])]) == 2


def test_smoothing_min_delta_min_iterations_and_mode():
    noisy = [1.0, 2.0, 3.0, 2.0, 3.2, 2.4]                            # rising trend, sawtooth noise
    assert Patience(patience=2, window=1).should_stop(noisy_rows := _rows(noisy)) is False
    assert Patience(patience=1, window=1).should_stop(noisy_rows)      # the raw last point fell
    assert Patience(patience=1, window=2).smoothed(noisy_rows)[-2:] == pytest.approx([2.6, 2.8])
    assert not Patience(patience=1, window=2).should_stop(noisy_rows)  # the trailing mean still rises
    # min_delta: a +0.05 gain does not count when 0.1 is required
    assert Patience(patience=1, window=1, min_delta=0.1).should_stop(_rows([1.0, 1.05]))
    assert not Patience(patience=1, window=1, min_delta=0.01).should_stop(_rows([1.0, 1.05]))
    # never before min_iterations
    assert not Patience(patience=1, window=1, min_iterations=30).should_stop(_rows([2.0, 1.0]))
    assert Patience(patience=1, window=1, min_iterations=20).should_stop(_rows([2.0, 1.0]))
    # lower is better
    assert Patience(metric="loss", patience=1, window=1, mode="min").should_stop(_rows([1.0, 2.0], "loss"))
    assert not Patience(metric="loss", patience=1, window=1, mode="min").should_stop(_rows([2.0, 1.0], "loss"))
    for bad in ({"patience": 0}, {"window": 0}, {"min_delta": -1.0}, {"mode": "last"}):
        with pytest.raises(DataError, match="bad patience rule"):
            Patience(**bad)


def test_identity_check_compares_paired_slices_against_their_noise():
    moved = identity_check([0.9, 0.8, 0.85], [0.5, 0.45, 0.5], metric="val_ssim")
    assert moved.gain == pytest.approx(0.3667, abs=1e-4) and not moved.near_identity
    # gains of +-0.01 around a mean of 0.001: within twice the standard error
    noise = identity_check([0.51, 0.49, 0.513, 0.491], [0.5] * 4, metric="val_ssim")
    assert noise.margin == pytest.approx(2 * noise.se) and noise.near_identity
    # a consistent but negligible change is caught by the floor, not by the (zero) standard error
    tiny = identity_check([0.5001] * 4, [0.5] * 4, metric="val_ssim", floor=1e-3)
    assert tiny.se == pytest.approx(0.0, abs=1e-12) and tiny.margin == 1e-3 and tiny.near_identity
    worse = identity_check([20.0, 21.0], [25.0, 25.0], metric="val_psnr")
    assert worse.gain < 0 and worse.near_identity
    lower_better = identity_check([0.1, 0.1], [0.5, 0.6], metric="loss", mode="min")
    assert lower_better.gain == pytest.approx(0.45) and not lower_better.near_identity
    with pytest.raises(DataError, match="paired per-slice scores"):
        identity_check([1.0], [1.0, 2.0], metric="val_psnr")


def test_the_loop_stops_on_a_plateau_and_records_why(tmp_path):
    rule = Patience(metric="val_psnr", patience=2, min_delta=0.5, window=2)
    sel = Selection(metric="val_psnr", tiebreak=None)
    _, hist = _fit(tmp_path, iterations=120, decay_start=1.0, selection=sel, stopping=rule)
    assert hist.stop_reason == "patience" and hist.iterations_run < hist.iteration_cap == 120
    assert rule.should_stop(hist.rows) and not rule.should_stop(hist.rows[:-1])   # stopped at the first chance
    assert hist.stop_rule == {"metric": "val_psnr", "patience": 2, "min_delta": 0.5, "window": 2, "mode": "max",
                              "min_iterations": 0}
    best = max(hist.rows, key=lambda r: r["val_psnr"])
    assert hist.selected_iteration == best["iteration"] and hist.near_identity is False
    s = summarize(hist)
    assert (s["stop_reason"], s["iterations_run"], s["iteration_cap"]) == ("patience", hist.iterations_run, 120)
    assert s["stop_rule"] == hist.stop_rule and s["near_identity"] is False and s["identity_gain_se"] >= 0
    # rerunning the finished fit in the same folder trains nothing more and reports the same stop
    ran: list[int] = []
    again = ToyModel()
    real = again.train_step
    again.train_step = lambda batch, it: (ran.append(it), real(batch, it))[1]
    _, h2 = _fit(tmp_path, again, iterations=120, decay_start=1.0, selection=sel, stopping=rule)
    assert ran == [] and (h2.stop_reason, h2.iterations_run, h2.selected_iteration) == (
        "patience", hist.iterations_run, hist.selected_iteration)
    assert TrainingHistory.from_json(hist.to_json()) == hist


def test_a_model_that_does_not_move_is_flagged_and_warned_about(tmp_path):
    with pytest.warns(NearIdentityWarning, match="did not move off the identity"):
        _, frozen = _fit(tmp_path, lr=1e-9, name="frozen")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NearIdentityWarning)
        _, trained = _fit(tmp_path, name="trained")
    assert frozen.near_identity is True and trained.near_identity is False
    assert trained.identity_margin < summarize(trained)["gain_over_identity"]


def test_fixed_schedules_keep_their_checkpoint_fingerprint():
    cfg = LoopConfig(iterations=40, val_every=10, lr=0.05)
    assert "stopping" not in cfg.fingerprint() and "identity_floor" not in cfg.fingerprint()
    with_rule = LoopConfig(iterations=40, val_every=10, lr=0.05, stopping=Patience())
    assert with_rule.fingerprint()["stopping"]["patience"] == 3
