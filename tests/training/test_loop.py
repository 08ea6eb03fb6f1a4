"""The kit's protocol with a toy model: it trains, checkpoints, resumes exactly, selects, records history."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from harmbench.errors import DataError
from harmbench.training.history import TrainingHistory, summarize
from harmbench.training.loop import LoopConfig, Selection, fit, lr_at
from harmbench.training.protocol import TrainableModel, set_mode, set_optimizer_lr
from harmbench.training.sampler import PairedSampler
from harmbench.training.validation import SliceValidator


class ToyModel:
    """FU -> BL by one 1x1 convolution (a per-pixel affine intensity map), trained with L1.

    ``train_step`` adds noise from torch's global RNG to its input, so the test also checks that
    the loop reseeds that RNG per period (resume is exact only then).
    """

    generators = ("G",)

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.nets = {"G": nn.Conv2d(1, 1, 1), "aux": nn.Linear(1, 1)}
        self.optimizers = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=0.05)}
        self.lrs: list[float] = []

    def train_step(self, batch, iteration: int) -> dict[str, float]:
        bl, fu = batch
        fake = self.nets["G"](fu + 0.01 * torch.randn_like(fu))
        loss = (fake - bl).abs().mean()
        self.optimizers["G"].zero_grad()
        loss.backward()
        self.optimizers["G"].step()
        return {"loss_G": float(loss.detach())}

    def set_lr(self, lr: float) -> None:
        self.lrs.append(lr)
        set_optimizer_lr(self.optimizers, lr)

    @torch.no_grad()
    def translate(self, fu: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        return self.nets["G"](fu)

    def train(self) -> None:
        set_mode(self.nets, True)

    def eval(self) -> None:
        set_mode(self.nets, False)


def _data(n: int = 6, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    bl = rng.uniform(-1, 1, (n, size, size)).astype(np.float32)
    fu = (0.5 * bl - 0.2).astype(np.float32)            # a known affine scanner difference
    return bl, fu


def _fit(tmp_path, model=None, *, name="a", **kw):
    bl, fu = _data()
    cfg = LoopConfig(**{"iterations": 40, "val_every": 10, "lr": 0.05, "decay_start": 0.5, "seed": 3, **kw})
    model = model or ToyModel()
    sampler = PairedSampler(bl, fu, batch_size=2, crop=8, flip=True, seed=3)
    hist = fit(model, sampler, cfg, validator=SliceValidator(fu[:3], bl[:3]), work_dir=tmp_path / name,
               fingerprint={"toy": 1}, method="toy")
    return model, hist


def test_toy_model_satisfies_the_protocol_and_trains(tmp_path):
    model, hist = _fit(tmp_path)
    assert isinstance(model, TrainableModel)
    assert [r["iteration"] for r in hist.rows] == [10, 20, 30, 40]
    assert hist.rows[-1]["loss_G"] < 0.5 * hist.rows[0]["loss_G"]
    assert all(r["seconds"] > 0 for r in hist.rows) and hist.rows[-1]["seconds"] >= hist.rows[0]["seconds"]
    # the learnt map beats the identity (FU itself) by a wide margin on the validation slices
    assert hist.selection_metric == "val_ssim" and hist.identity_score < 0.9
    best = next(r for r in hist.rows if r["iteration"] == hist.selected_iteration)
    assert best["val_psnr"] > hist.rows[0]["val_psnr"] - 1e-6 and best["val_ssim"] > hist.identity_score + 0.05
    assert (hist.stop_reason, hist.iterations_run, hist.iteration_cap) == ("iteration_cap", 40, 40)
    # linear decay over the second half, constant before
    assert model.lrs[:20] == [0.05] * 20 and model.lrs[20] == pytest.approx(lr_at(20, 40, 0.05, 0.5))
    assert model.lrs[-1] == pytest.approx(0.05 / 20)
    s = summarize(hist)
    assert s["gain_over_identity"] == pytest.approx(best["val_ssim"] - hist.identity_score)
    assert [p[0] for p in s["curves"]["loss_G"]] == [10, 20, 30, 40]


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("ema", [0.0, 0.8])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, ema):
    ref, h_ref = _fit(tmp_path, ema=ema, name="ref")
    broken = ToyModel()
    real = broken.train_step

    def dies(batch, it):
        if it == 25:                       # in the middle of the third period
            raise _Interrupt
        return real(batch, it)

    broken.train_step = dies
    with pytest.raises(_Interrupt):
        _fit(tmp_path, broken, ema=ema, name="cut")
    state = json.loads((tmp_path / "cut" / "last" / "state.json").read_text())
    assert state["iteration"] == 20
    ran = []
    resumed = ToyModel(seed=99)                      # other initial weights: all must come from the checkpoint
    real2 = resumed.train_step
    resumed.train_step = lambda batch, it: (ran.append(it), real2(batch, it))[1]
    _, h = _fit(tmp_path, resumed, ema=ema, name="cut")
    assert ran == list(range(20, 40))                # only the missing iterations ran
    for k in ref.nets:
        for a, b in zip(ref.nets[k].state_dict().values(), resumed.nets[k].state_dict().values()):
            assert torch.equal(a, b), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in h.rows]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in h_ref.rows]
    assert h.selected_iteration == h_ref.selected_iteration


def test_checkpoints_are_weights_only_and_another_configuration_starts_over(tmp_path):
    _fit(tmp_path, ema=0.5)
    last = tmp_path / "a" / "last"
    assert {p.name for p in last.iterdir()} == {"G.pt", "aux.pt", "opt_G.pt", "ema_G.pt", "state.json"}
    for p in [*last.glob("*.pt"), *(tmp_path / "a" / "best").glob("*.pt")]:
        torch.load(p, weights_only=True)
    ran = []
    other = ToyModel()
    real = other.train_step
    other.train_step = lambda batch, it: (ran.append(it), real(batch, it))[1]
    _fit(tmp_path, other, ema=0.5, lr=0.01)                 # same folder, other loop settings
    assert ran[0] == 0 and len(ran) == 40


def test_weight_average_is_selected_and_left_loaded(tmp_path):
    model, hist = _fit(tmp_path, ema=0.5, selection=Selection(mode="last"))
    assert hist.selected_iteration == 40
    avg = torch.load(tmp_path / "a" / "last" / "ema_G.pt", weights_only=True)
    live = torch.load(tmp_path / "a" / "last" / "G.pt", weights_only=True)
    for k in avg:
        assert torch.equal(model.nets["G"].state_dict()[k], avg[k])
    assert any(not torch.equal(avg[k], live[k]) for k in avg)


def test_selection_rules(tmp_path):
    rows = [{"iteration": 10, "val_psnr": 20.0, "val_ssim": 0.5}, {"iteration": 20, "val_psnr": 25.0, "val_ssim": 0.5}]
    by_ssim = Selection()
    assert by_ssim.key(rows[1]) > by_ssim.key(rows[0])             # tie on SSIM broken by PSNR
    assert Selection(metric="val_psnr", tiebreak=None, mode="min").key(rows[0]) > \
        Selection(metric="val_psnr", tiebreak=None, mode="min").key(rows[1])
    _, hist = _fit(tmp_path, selection=Selection(metric="val_psnr", tiebreak=None, mode="min"))
    worst = min(hist.rows, key=lambda r: r["val_psnr"])
    assert hist.selected_iteration == worst["iteration"] and hist.selection_metric == "val_psnr"


def test_time_cap_stops_after_a_period_and_says_so(tmp_path):
    _, hist = _fit(tmp_path, time_cap_s=0.0)
    assert (hist.stop_reason, hist.iterations_run, hist.iteration_cap, hist.time_cap_s) == ("time_cap", 10, 40, 0.0)


def test_history_round_trips_through_json(tmp_path):
    _, hist = _fit(tmp_path)
    hist.save(tmp_path)
    assert TrainingHistory.load(tmp_path) == hist


def test_no_validation_keeps_the_last_point_and_bad_lengths_fail(tmp_path):
    bl, fu = _data()
    model = ToyModel()
    hist = fit(model, PairedSampler(bl, fu, batch_size=2, crop=None, flip=False, seed=0),
               LoopConfig(iterations=5, val_every=2, lr=0.05), validator=None, work_dir=None, fingerprint={},
               method="toy")
    assert [r["iteration"] for r in hist.rows] == [2, 4, 5] and hist.selected_iteration == 5
    assert hist.identity_score is None and hist.selection_metric == ""
    with pytest.raises(DataError, match="iterations and val_every must be >= 1"):
        fit(model, None, LoopConfig(iterations=0, val_every=1, lr=0.1), validator=None, work_dir=None,
            fingerprint={}, method="toy")


def test_paired_sampler_batches_depend_only_on_seed_and_iteration():
    bl, fu = _data()
    a = PairedSampler(bl, fu, batch_size=3, crop=8, flip=True, seed=4)
    b = PairedSampler(bl, fu, batch_size=3, crop=8, flip=True, seed=4)
    for it in (7, 0, 7):
        (x1, y1), (x2, y2) = a.batch(it), b.batch(it)
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape == (3, 1, 8, 8)
    x, y = a.batch(1)
    assert torch.allclose(y, 0.5 * x - 0.2, atol=1e-6)       # one crop window and flip per pair
    assert not torch.equal(a.batch(1)[0], a.batch(2)[0])


def test_selection_after_a_fraction_skips_the_early_points(tmp_path):
    """``after=0.5``: the early points cannot win even when they score best (here: by lowest PSNR)."""
    rule = Selection(metric="val_psnr", tiebreak=None, mode="min", after=0.5)
    _, hist = _fit(tmp_path, selection=rule)
    late = [r for r in hist.rows if r["iteration"] >= 20]
    assert hist.selected_iteration == min(late, key=lambda r: r["val_psnr"])["iteration"]
    assert min(hist.rows, key=lambda r: r["val_psnr"])["iteration"] == 10      # would have won
    _, capped = _fit(tmp_path, selection=rule, time_cap_s=0.0, name="capped")
    assert (capped.selected_iteration, capped.stop_reason) == (10, "time_cap")  # none eligible: the last


def test_a_guarded_selection_keeps_the_best_point_that_does_not_damage_structure():
    """``guard``: a point whose SSIM falls more than the tolerance below the identity's cannot win on
    PSNR; when every point falls, the least damaged one wins."""
    identity = {"val_psnr": 20.0, "val_ssim": 0.86}
    rows = [{"iteration": 10, "val_psnr": 21.0, "val_ssim": 0.858},
            {"iteration": 20, "val_psnr": 22.0, "val_ssim": 0.851},
            {"iteration": 30, "val_psnr": 23.0, "val_ssim": 0.70}]      # sharper contrast, noisy texture
    rule = Selection(metric="val_psnr", tiebreak="val_ssim", guard="val_ssim", guard_tolerance=0.01)
    assert max(rows, key=lambda r: rule.key(r, identity))["iteration"] == 20
    unguarded = Selection(metric="val_psnr", tiebreak="val_ssim")
    assert max(rows, key=lambda r: unguarded.key(r, identity))["iteration"] == 30
    damaged = [dict(r, val_ssim=r["val_ssim"] - 0.1) for r in rows]
    assert max(damaged, key=lambda r: rule.key(r, identity))["iteration"] == 10
    # a guard does not change the loop fingerprint of unguarded rules (their checkpoints stay valid)
    assert "guard" not in LoopConfig(iterations=5, val_every=1, lr=0.1).fingerprint()["selection"]
    assert LoopConfig(iterations=5, val_every=1, lr=0.1, selection=rule).fingerprint()["selection"]["guard"] == "val_ssim"
