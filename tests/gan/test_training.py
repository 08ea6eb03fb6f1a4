"""Training reduces the loss; checkpoints save, load and resume exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harmbench_gan import engine
from harmbench_gan.data import PairedSlices
from harmbench_gan.models import CycleConfig, CycleModel, Pix2PixConfig, Pix2PixModel


def _toy_pair(n: int = 4, size: int = 32) -> PairedSlices:
    """BL: a bright disc; FU: the same disc with another contrast (a known, learnable map)."""
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2).astype(np.float32)
    ring = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 6) ** 2).astype(np.float32)
    bl = 0.8 * disc - 0.4 * ring
    fu = 0.5 * disc + 0.3 * ring
    return PairedSlices(np.repeat((bl * 2 - 1)[None], n, 0), np.repeat((fu * 2 - 1)[None], n, 0))


def _cfg(**kw) -> engine.TrainConfig:
    base = dict(epochs=1, iters_per_epoch=12, batch_size=2, crop=None, flip=False, decay_start=1.0, lr=2e-3,
                val_slices=2, seed=0)
    return engine.TrainConfig(**{**base, **kw})


def test_cycle_training_steps_reduce_generator_loss():
    torch.manual_seed(0)
    data = _toy_pair()
    m = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3))
    s = engine.PairSampler(data, batch_size=2, crop=None, flip=False, seed=0)
    hist = [m.train_step(*s.batch(i)) for i in range(12)]
    first, last = np.mean([h["G_oml"] for h in hist[:2]]), np.mean([h["G_oml"] for h in hist[-2:]])
    assert last < 0.7 * first
    assert hist[-1]["G_total"] < hist[0]["G_total"]


def test_pix2pix_training_steps_reduce_l1():
    torch.manual_seed(0)
    data = _toy_pair()
    m = Pix2PixModel(Pix2PixConfig(ngf=4, ndf=4, depth=5, lr=2e-3))
    s = engine.PairSampler(data, batch_size=2, crop=None, flip=False, seed=0)
    hist = [m.train_step(*s.batch(i)) for i in range(20)]
    assert np.mean([h["G_l1"] for h in hist[-2:]]) < 0.6 * np.mean([h["G_l1"] for h in hist[:2]])


def test_lr_schedule_linear_to_zero():
    assert engine.lr_at(0, 100, 1.0, 0.0) == 1.0
    assert engine.lr_at(50, 100, 1.0, 0.0) == pytest.approx(0.5)
    assert engine.lr_at(99, 100, 1.0, 0.0) == pytest.approx(0.01)
    assert engine.lr_at(40, 100, 1.0, 0.5) == 1.0 and engine.lr_at(75, 100, 1.0, 0.5) == pytest.approx(0.5)


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, ema):
    data = _toy_pair()
    cfg = _cfg(epochs=2, iters_per_epoch=2, ema=ema)
    fp = {"test": 1}

    def make() -> CycleModel:
        return CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3), seed=5)

    ref = make()
    res_ref = engine.train(ref, data, data, cfg, tmp_path / "a", fingerprint=fp)

    broken = make()
    real_step, calls = broken.train_step, []

    def failing_step(a, b):
        if len(calls) == 3:          # dies in the middle of epoch 2
            raise _Interrupt
        calls.append(1)
        return real_step(a, b)

    broken.train_step = failing_step
    with pytest.raises(_Interrupt):
        engine.train(broken, data, data, cfg, tmp_path / "b", fingerprint=fp)
    assert (tmp_path / "b" / "last" / "state.json").exists()

    resumed = make()
    res = engine.train(resumed, data, data, cfg, tmp_path / "b", fingerprint=fp)
    assert res.resumed_from == 1 and len(res.history) == 2 and res.best_epoch == res_ref.best_epoch
    for k in ref.nets:
        for (n, a), b in zip(ref.nets[k].state_dict().items(), resumed.nets[k].state_dict().values()):
            assert torch.allclose(a, b, atol=1e-6), (k, n)
    # checkpoints are plain state_dicts readable with weights_only=True
    sd = torch.load(tmp_path / "b" / "best" / "G_fu2bl.pt", weights_only=True)
    assert set(sd) == set(ref.nets["G_fu2bl"].state_dict())

    # another configuration does not resume from this checkpoint
    other = engine.train(make(), data, data, cfg, tmp_path / "b", fingerprint={"test": 2})
    assert other.resumed_from == 0


def test_weight_average_is_what_gets_selected_and_saved(tmp_path):
    data = _toy_pair()
    model = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3), seed=1)
    init = {k: v.clone() for k, v in model.nets["G_fu2bl"].state_dict().items()}
    res = engine.train(model, data, None, _cfg(epochs=1, iters_per_epoch=4, ema=0.5), tmp_path, fingerprint={})
    assert res.best_epoch == 1
    last = torch.load(tmp_path / "last" / "G_fu2bl.pt", weights_only=True)
    avg = torch.load(tmp_path / "last" / "ema_G_fu2bl.pt", weights_only=True)
    best = torch.load(tmp_path / "best" / "G_fu2bl.pt", weights_only=True)
    for k in avg:
        assert torch.equal(best[k], avg[k])                                   # the average is saved
        assert torch.equal(model.nets["G_fu2bl"].state_dict()[k], avg[k])      # ... and left loaded
    w = next(k for k in avg if k.endswith("weight") and not torch.equal(last[k], init[k]))
    assert not torch.equal(avg[w], last[w])                                   # and differs from the live net


def test_mixed_precision_on_cpu_trains_and_translates_close_to_fp32():
    """``precision='mixed'`` runs bfloat16 autocast on the CPU; outputs stay float32 and near fp32."""
    from harmbench.errors import DataError
    from harmbench_gan.models import amp_dtype

    assert amp_dtype("auto", "cpu") is None and amp_dtype("fp32", "cuda") is None
    assert amp_dtype("mixed", "cpu") is torch.bfloat16 and amp_dtype("auto", "cuda:0") is torch.float16
    with pytest.raises(DataError, match="precision"):
        amp_dtype("half", "cpu")
    torch.manual_seed(0)
    data = _toy_pair()
    cfg = CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3)
    m = CycleModel(cfg, precision="mixed")
    s = engine.PairSampler(data, batch_size=2, crop=None, flip=False, seed=0)
    hist = [m.train_step(*s.batch(i)) for i in range(12)]
    assert np.mean([h["G_oml"] for h in hist[-2:]]) < 0.8 * np.mean([h["G_oml"] for h in hist[:2]])
    ref = CycleModel(cfg, precision="fp32")
    ref.nets["G_fu2bl"].load_state_dict(m.nets["G_fu2bl"].state_dict())
    m.eval()
    ref.eval()
    x = torch.from_numpy(data.fu[:2, None])
    y, y32 = m.translate("G_fu2bl", x), ref.translate("G_fu2bl", x)
    assert y.dtype == torch.float32
    assert (y - y32).abs().mean() < 0.02 and not torch.equal(y, y32)
