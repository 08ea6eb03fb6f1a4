"""The ``stgan`` method with a tiny config: conformance, reference style, seeding, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from harmbench.data.cohort import Cohort
from harmbench.errors import DataError
from harmbench.testing import check_method
from harmbench_stgan.stgan import StyleTransferGAN

TINY = {"preset": "tiny"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions are fastest (and immune to a busy CPU) on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fitted(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    return StyleTransferGAN(**TINY).fit(cohort), cohort


def test_conformance(toy_manifest, tmp_path):
    check_method(lambda: StyleTransferGAN(**TINY), tmp_path, manifest=toy_manifest)


def test_tiny_config_trains_and_records_its_history(fitted):
    m, _ = fitted
    h = m.training_history_
    assert m.domains_ == ["toy-p", "toy-s"] and m.bl_domain_ == "toy-s"
    assert [r["iteration"] for r in h.rows] == [2, 4]
    assert all(np.isfinite(r["val_psnr"]) and r["val_psnr"] > 0 for r in h.rows)
    assert {"D_lat_real", "D_lat_fake", "D_lat_acc", "D_ref_acc", "G_lat", "G_ref", "seconds"} <= set(h.rows[0])
    # the best validation PSNR over all validation points (here: iterations 2 and 4)
    best = max(h.rows, key=lambda r: (r["val_psnr"], r["val_ssim"]))["iteration"]
    assert (h.selection_metric, h.selected_iteration, h.stop_reason) == ("val_psnr", best, "iteration_cap")
    assert h.identity_score is not None and h.identity_score > 0
    assert m.mean_styles_.shape == (2, 8) and np.isfinite(m.mean_styles_).all()
    fresh = StyleTransferGAN(**TINY)._build(2)["generator"]
    pairs = zip(m.nets_["generator"].parameters(), fresh.parameters())
    moved = sum(float((p - q).detach().abs().sum()) for p, q in pairs)
    assert moved > 1e-3  # the EMA generator left its initialisation


def test_style_comes_from_the_reference(fitted):
    import torch

    from harmbench.slices import to_axial_stack
    from harmbench_stgan.data import to_signed

    m, cohort = fitted
    a, b = cohort.split("test-A")[:2]
    fu, bl = a.volume("FU"), a.volume("BL")
    foreign = b.volume("BL").with_data(b.volume("BL").data ** 0.5)
    own = m.transform(fu, reference=bl).data
    other = m.transform(fu, reference=foreign).data
    # 4 training steps leave the generator close to its identity start, so the effect is small
    # (measured max 4.5e-6 with per-domain output layers, each updated only by its own target's
    # samples; 2.9e-5 with one shared layer) but well above float32 round-off (~1e-7) ...
    assert np.abs(own - other).max() > 1e-6
    np.testing.assert_array_equal(own, m.transform(fu, reference=bl).data)
    # ... and it comes from clearly different style codes of the two references
    mid = to_axial_stack(bl).shape[0] // 2
    codes = [m.nets_["style_encoder"](torch.from_numpy(to_signed(to_axial_stack(v)[mid:mid + 1]))[:, None],
                                   torch.tensor([1])) for v in (bl, foreign)]
    assert float((codes[0] - codes[1]).detach().abs().mean()) > 1e-3 * float(codes[0].detach().abs().mean())


def test_another_seed_gives_another_model(fitted):
    m, cohort = fitted
    case = cohort.split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    # equal seeds giving equal output is the conformance kit's "deterministic" check
    other = StyleTransferGAN(**{**TINY, "seed": 1}).fit(cohort)
    assert np.abs(other.transform(fu, reference=bl).data - m.transform(fu, reference=bl).data).max() > 1e-4


def test_save_load_round_trip(fitted, tmp_path):
    m, cohort = fitted
    d = m.save(tmp_path / "model")
    assert sorted(p.name for p in d.iterdir()) == ["arrays.npz", "artifact.json", "generator.pt",
                                                   "mapping.pt", "style_encoder.pt"]
    loaded = StyleTransferGAN.load(d)
    case = cohort.split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    np.testing.assert_array_equal(loaded.transform(fu, reference=bl).data, m.transform(fu, reference=bl).data)
    np.testing.assert_array_equal(loaded.inverse_transform(bl).data, m.inverse_transform(bl).data)
    assert loaded.training_history_ == m.training_history_


def test_background_passes_through_and_unknown_reference_scanner_fails(fitted):
    m, cohort = fitted
    case = cohort.split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    out = m.transform(fu, reference=bl).data
    assert float(np.abs(out[fu.data == 0]).max()) == 0.0
    with pytest.raises(DataError, match=r"scanner 'ge-signa' was not a training domain"):
        m.transform(fu, reference=bl.with_data(bl.data, scanner="ge-signa"))


def test_presets_resolve_and_explicit_values_win():
    assert StyleTransferGAN().preset == "quick"                # like the other deep methods
    cfg = StyleTransferGAN(preset="quick", lr=3e-4, crop=0).config()
    assert cfg["lr"] == 3e-4 and cfg["crop"] is None and cfg["dim"] == 16 and cfg["image_size"] is None
    paper = StyleTransferGAN(preset="paper").config()
    got = (paper["image_size"], paper["batch_size"], paper["ema_beta"], paper["lr_mapping"])
    assert got == (256, 8, 0.999, 1e-6)
    with pytest.raises(DataError, match="unknown preset 'fast'"):
        StyleTransferGAN(preset="fast").config()


def test_bad_sizes_are_one_line_errors(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    with pytest.raises(DataError, match="image_size 30 must be a multiple of 4"):
        StyleTransferGAN(**{**TINY, "image_size": 30}).fit(cohort)
    with pytest.raises(DataError, match="crop 99 must be in"):
        StyleTransferGAN(**{**TINY, "crop": 99}).fit(cohort)


class _Interrupt(Exception):
    pass


def test_interrupted_fit_resumes_from_work_dir_and_matches(toy_manifest, tmp_path, monkeypatch):
    import torch

    from harmbench_stgan.model import StarGANv2Model

    cohort = Cohort.from_manifest(toy_manifest)
    ref = StyleTransferGAN(**TINY).fit(cohort)

    real_step = StarGANv2Model.train_step

    def dying_step(self, batch, it):
        if it == 2:                              # after the checkpoint at iteration 2
            raise _Interrupt
        return real_step(self, batch, it)

    monkeypatch.setattr(StarGANv2Model, "train_step", dying_step)
    with pytest.raises(_Interrupt):
        StyleTransferGAN(**TINY, work_dir=str(tmp_path)).fit(cohort)
    assert (tmp_path / "last" / "state.json").exists()

    ran = []
    monkeypatch.setattr(StarGANv2Model, "train_step",
                        lambda self, batch, it: (ran.append(it), real_step(self, batch, it))[1])
    resumed = StyleTransferGAN(**TINY, work_dir=str(tmp_path)).fit(cohort)
    assert ran == [2, 3]                                       # only the missing iterations ran
    assert [r["iteration"] for r in resumed.training_history_.rows] == [2, 4]
    for k in ref.nets_:
        for a, b in zip(ref.nets_[k].state_dict().values(), resumed.nets_[k].state_dict().values()):
            assert torch.equal(a, b), k
    # another configuration does not resume from it
    other = StyleTransferGAN(**TINY, seed=1, work_dir=str(tmp_path))
    ran.clear()
    other.fit(cohort)
    assert ran[0] == 0


def test_targets_are_always_another_scanner():
    from harmbench_stgan.data import DomainSlices

    rng = np.random.default_rng(0)
    data = DomainSlices(rng.uniform(-1, 1, (12, 8, 8)).astype(np.float32), np.array([0, 1, 2] * 4))
    s = data.sampler(batch_size=16, seed=3, crop=4)
    for it in range(5):
        b = s.batch(it)
        assert (b["y"] != b["y_trg"]).all() and b["x"].shape == (16, 1, 4, 4)
        assert torch_equal(b["x"], s.batch(it)["x"])        # a pure function of (seed, iteration)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


@pytest.mark.parametrize(("params", "message"), [
    ({"guidance": "x"}, r"stgan: parameter 'guidance' must be one of \{'alternate', 'both', 'reference'\} or None; got 'x'"),
    ({"lr": 0}, r"parameter 'lr' must be a float in \(0, inf\)"),
    ({"n_down": 9}, r"parameter 'n_down' must be an int in \[1, 8\]"),
    ({"ema_beta": 1.5}, r"parameter 'ema_beta' must be a float in \[0, 1\)"),
    ({"preset": "fast"}, r"unknown preset 'fast'"),
    ({"image_size": 30}, r"image_size 30 must be a multiple of 4"),
    ({"dim": 100_000, "max_dim": 100_000}, r"gives networks of"),
])
def test_bad_parameters_fail_at_planning_time(params, message):
    from harmbench import registry

    with pytest.raises(DataError, match=message) as err:
        registry.build_method("stgan", params)
    assert "\n" not in str(err.value)


def test_paired_references_are_the_same_subjects_other_scanner_slice(toy_manifest):
    """``paired_reference``: the style reference of a slice is its partner (same case and position,
    other scanner), with the same flip; FU pairs with BL, BL and FU2 with FU."""
    from harmbench_stgan.data import DomainSlices

    cohort = Cohort.from_manifest(toy_manifest)
    cases = cohort.train
    data = DomainSlices.from_cases(cases, ["toy-p", "toy-s"], multiple=4, image_size=None)
    k = len(data) // (3 * len(cases))                       # slices per image (BL, FU, FU2 per case)
    bl, fu, fu2 = np.arange(0, k), np.arange(k, 2 * k), np.arange(2 * k, 3 * k)
    np.testing.assert_array_equal(data.partners[fu], bl)
    np.testing.assert_array_equal(data.partners[bl], fu)
    np.testing.assert_array_equal(data.partners[fu2], fu)
    assert (data.domains[data.partners] != data.domains).all()
    s = data.sampler(batch_size=8, seed=0, paired_reference=True)
    for it in range(3):
        b = s.batch(it)
        assert (b["y"] != b["y_trg"]).all()
        # the reference is the partner of the source: same anatomy, so it is close to the source
        # up to the scanner's contrast, and far closer than a random other slice
        own = (b["x"] - b["x_ref"]).abs().mean(dim=(1, 2, 3))
        other = (b["x"] - b["x_ref"].roll(1, 0)).abs().mean(dim=(1, 2, 3))
        assert float(own.mean()) < float(other.mean())
    unpaired = data.sampler(batch_size=8, seed=0)                   # the default draw is unchanged
    assert not torch_equal(unpaired.batch(0)["x_ref"], s.batch(0)["x_ref"])
    assert torch_equal(unpaired.batch(0)["x"], s.batch(0)["x"])


def test_reference_only_guidance_trains_the_style_encoder_not_the_mapping(toy_manifest):
    import torch

    cohort = Cohort.from_manifest(toy_manifest)
    m = StyleTransferGAN(**TINY, guidance="reference", paired_reference=True).fit(cohort)
    fresh = StyleTransferGAN(**TINY)._build(2)

    def moved(name: str) -> float:
        return sum(float((p - q).detach().abs().sum()) for p, q in
                   zip(m.nets_[name].parameters(), fresh[name].parameters()))

    assert moved("style_encoder") > 1e-3 and moved("generator") > 1e-3
    assert moved("mapping") == 0.0
    assert torch.isfinite(torch.from_numpy(m.mean_styles_)).all()


def test_bf16_training_runs_and_harmonizes_close_to_fp32(toy_manifest):
    """``precision="mixed"``: bfloat16 autocast of the training steps (R1's double backward included);
    validation and harmonization stay fp32, and after a few iterations the output is near fp32's."""
    import torch

    cohort = Cohort.from_manifest(toy_manifest)
    case = cohort.split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    runs = {p: StyleTransferGAN(**TINY, precision=p).fit(cohort) for p in ("fp32", "mixed")}
    out = {p: m.transform(fu, reference=bl).data for p, m in runs.items()}
    assert out["mixed"].dtype == out["fp32"].dtype and np.isfinite(out["mixed"]).all()
    spread = float(np.ptp(out["fp32"]))
    assert 0 < np.abs(out["mixed"] - out["fp32"]).max() < 0.05 * spread
    assert all(np.isfinite(r["val_psnr"]) for r in runs["mixed"].training_history_.rows)
    assert next(runs["mixed"].nets_["generator"].parameters()).dtype is torch.float32   # weights stay fp32


def test_precision_is_checked_and_auto_follows_the_cpu(monkeypatch):
    import torch

    from harmbench.device import BF16_ENV
    from harmbench.training.precision import amp_dtype

    with pytest.raises(DataError, match="precision"):
        StyleTransferGAN(**TINY, precision="half").check_params()
    monkeypatch.setenv(BF16_ENV, "1")
    assert amp_dtype("auto", "cpu", fp16=False) is torch.bfloat16
    monkeypatch.setenv(BF16_ENV, "0")
    assert amp_dtype("auto", "cpu", fp16=False) is None
    # no fp16 path without loss scaling: fp32 under auto on CUDA, bfloat16 when asked for
    assert amp_dtype("auto", "cuda", fp16=False) is None and amp_dtype("mixed", "cuda", fp16=False) is torch.bfloat16

