"""The slice-GAN models on the training kit: losses fall, resume is exact, the average is kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harmbench.training.loop import LoopConfig, fit
from harmbench.training.validation import SliceValidator
from harmbench_gan.base import SELECTION
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


def _sampler(data: PairedSlices):
    return data.sampler(batch_size=2, crop=None, flip=False, seed=0)


def test_cycle_training_steps_reduce_generator_loss():
    torch.manual_seed(0)
    data = _toy_pair()
    m = CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3))
    s = _sampler(data)
    hist = [m.train_step(s.batch(i), i) for i in range(12)]
    first, last = np.mean([h["G_oml"] for h in hist[:2]]), np.mean([h["G_oml"] for h in hist[-2:]])
    assert last < 0.7 * first
    assert hist[-1]["G_total"] < hist[0]["G_total"]
    assert all(0 <= h["D_bl_real"] <= 1 and 0 <= h["D_fu_fake"] <= 1 and 0 <= h["D_fu_acc"] <= 1 for h in hist)


def test_pix2pix_learns_the_paired_map_and_validation_sees_it(tmp_path):
    torch.manual_seed(0)
    data = _toy_pair()
    m = Pix2PixModel(Pix2PixConfig(ngf=4, depth=5, ndf=4, lr=2e-3, lambda_l1=100.0, residual=True))
    val = SliceValidator(data.fu[:2], data.bl[:2])
    hist = fit(m, _sampler(data), LoopConfig(iterations=60, val_every=20, lr=2e-3, decay_start=1.0,
                                              selection=SELECTION),
               validator=val, work_dir=tmp_path, fingerprint={}, method="pix2pix")
    assert hist.rows[0]["G_l1"] > hist.rows[-1]["G_l1"]
    # the selected point scores well above the identity map (FU itself) on the validation slices
    best = next(r for r in hist.rows if r["iteration"] == hist.selected_iteration)
    assert best["val_psnr"] > val.identity()["val_psnr"] + 1.5 and hist.identity_score == val.identity()["val_ssim"]


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_cycle_model_resume_is_bit_identical(tmp_path, ema):
    data = _toy_pair()
    cfg = LoopConfig(iterations=4, val_every=2, lr=2e-3, decay_start=1.0, ema=ema, selection=SELECTION)
    val = SliceValidator(data.fu[:2], data.bl[:2])

    def make() -> CycleModel:
        return CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3), seed=5)

    ref = make()
    h_ref = fit(ref, _sampler(data), cfg, validator=val, work_dir=tmp_path / "a", fingerprint={"t": 1}, method="x")
    broken = make()
    real_step = broken.train_step

    def failing_step(batch, it):
        if it == 3:                 # dies in the middle of the second period
            raise _Interrupt
        return real_step(batch, it)

    broken.train_step = failing_step
    with pytest.raises(_Interrupt):
        fit(broken, _sampler(data), cfg, validator=val, work_dir=tmp_path / "b", fingerprint={"t": 1}, method="x")
    resumed = make()
    h = fit(resumed, _sampler(data), cfg, validator=val, work_dir=tmp_path / "b", fingerprint={"t": 1}, method="x")
    assert [r["iteration"] for r in h.rows] == [2, 4] and h.selected_iteration == h_ref.selected_iteration
    for k in ref.nets:
        for (n, a), b in zip(ref.nets[k].state_dict().items(), resumed.nets[k].state_dict().values()):
            assert torch.equal(a, b), (k, n)
    sd = torch.load(tmp_path / "b" / "best" / "G_fu2bl.pt", weights_only=True)
    assert set(sd) == set(ref.nets["G_fu2bl"].state_dict())


def test_mixed_precision_on_cpu_trains_and_translates_close_to_fp32(monkeypatch):
    """``precision='mixed'`` runs bfloat16 autocast on the CPU; outputs stay float32 and near fp32."""
    from harmbench.device import BF16_ENV
    from harmbench.errors import DataError
    from harmbench.training.precision import amp_dtype

    monkeypatch.setenv(BF16_ENV, "0")
    assert amp_dtype("auto", "cpu") is None and amp_dtype("fp32", "cuda") is None
    assert amp_dtype("mixed", "cpu") is torch.bfloat16 and amp_dtype("auto", "cuda:0") is torch.float16
    with pytest.raises(DataError, match="precision"):
        amp_dtype("half", "cpu")
    torch.manual_seed(0)
    data = _toy_pair()
    cfg = CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3)
    m = CycleModel(cfg, precision="mixed")
    s = _sampler(data)
    hist = [m.train_step(s.batch(i), i) for i in range(12)]
    assert np.mean([h["G_oml"] for h in hist[-2:]]) < 0.8 * np.mean([h["G_oml"] for h in hist[:2]])
    ref = CycleModel(cfg, precision="fp32")
    ref.nets["G_fu2bl"].load_state_dict(m.nets["G_fu2bl"].state_dict())
    m.eval()
    ref.eval()
    x = torch.from_numpy(data.fu[:2, None])
    y, y32 = m.translate(x), ref.translate(x)
    assert y.dtype == torch.float32
    assert (y - y32).abs().mean() < 0.02 and not torch.equal(y, y32)


def test_paired_slices_carry_the_bl_head_mask_for_head_validation(toy_cohort):
    from harmbench.masking import head_mask
    from harmbench.slices import paired_slices

    plain = PairedSlices.from_cases(toy_cohort.val, multiple=4)
    data = PairedSlices.from_cases(toy_cohort.val, multiple=4, head=True)
    assert plain.head is None and np.array_equal(data.bl, plain.bl) and np.array_equal(data.fu, plain.fu)
    assert data.head.dtype == bool and data.head.shape == data.bl.shape
    case = toy_cohort.val[0]
    bl = case.volume("BL")
    ref = paired_slices([(bl, bl.with_data(head_mask(bl.data).astype(np.float32)), case.slice_range)])[1] > 0.5
    assert data.head.sum() == ref.sum() > 0        # the volume's BL head mask; padding is outside
    sub = data.subset(2)
    assert sub.head.shape == sub.bl.shape and np.array_equal(sub.head, data.head[[0, len(data) - 1]])


@pytest.mark.parametrize("native", ["0", "1"])
def test_auto_precision_trains_in_bf16_only_on_a_native_bf16_cpu_and_always_infers_in_fp32(monkeypatch, native):
    """Issue #18 item 2: ``auto`` detects bf16 units; it never rounds a harmonized image to bf16."""
    from harmbench.device import BF16_ENV, cpu_native_bf16
    from harmbench.training.precision import amp_dtype, inference_dtype

    monkeypatch.setenv(BF16_ENV, native)
    assert cpu_native_bf16() is (native == "1")
    want = torch.bfloat16 if native == "1" else None
    assert amp_dtype("auto", "cpu") is want and inference_dtype("auto", "cpu") is None
    assert amp_dtype("fp32", "cpu") is None and inference_dtype("mixed", "cpu") is torch.bfloat16
    assert inference_dtype("auto", "cuda") is torch.float16
    torch.manual_seed(0)
    data = _toy_pair()
    cfg = CycleConfig(ngf=4, n_blocks=1, ndf=4, lr=2e-3)
    m, ref = CycleModel(cfg, precision="auto"), CycleModel(cfg, precision="fp32")
    assert m.amp_dtype is want
    s = _sampler(data)
    for i in range(2):
        m.train_step(s.batch(i), i)
    ref.nets["G_fu2bl"].load_state_dict(m.nets["G_fu2bl"].state_dict())
    m.eval()
    ref.eval()
    x = torch.from_numpy(data.fu[:2, None])
    assert torch.equal(m.translate(x), ref.translate(x))    # fp32 inference either way


def test_native_bf16_detection_reads_the_cpu_not_an_assumption(monkeypatch):
    import torch.cpu

    from harmbench.device import BF16_ENV, cpu_native_bf16

    monkeypatch.delenv(BF16_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_native_bf16() is True
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_native_bf16() is False


@pytest.mark.parametrize("native", ["0", "1"])
def test_auto_keeps_pix2pix_in_fp32_on_the_cpu(monkeypatch, native):
    """Pix2Pix's quick U-Net trains no faster in bf16 (bench_precision), so its ``auto`` is fp32 on
    the CPU; the CycleGAN family's ``auto`` follows the CPU's bf16 units."""
    from harmbench.device import BF16_ENV
    from harmbench_gan.methods import OMLCycleGAN, Pix2Pix

    monkeypatch.setenv(BF16_ENV, native)
    models = {}
    for cls in (Pix2Pix, OMLCycleGAN):
        m = cls(preset="tiny")
        models[cls.name] = m._build(m._model_config(m.resolved_params()), "cpu", 0)
    assert models["pix2pix"].amp_dtype is None
    assert models["oml-cyclegan"].amp_dtype is (torch.bfloat16 if native == "1" else None)
    explicit = Pix2Pix(preset="tiny", precision="mixed")
    assert explicit._build(explicit._model_config(explicit.resolved_params()), "cpu", 0).amp_dtype is torch.bfloat16
