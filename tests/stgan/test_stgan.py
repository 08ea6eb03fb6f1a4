"""The ``stgan`` method with a tiny config: conformance, reference style, seeding, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from harmbench.cohort import Cohort
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


def test_tiny_config_trains_and_selects_on_validation(fitted):
    m, _ = fitted
    assert m.domains_ == ["toy-p", "toy-s"] and m.bl_domain_ == "toy-s"
    assert [h["iteration"] for h in m.history_] == [2, 4]
    assert all(np.isfinite(h["val_psnr"]) and h["val_psnr"] > 0 for h in m.history_)
    assert m.mean_styles_.shape == (2, 8) and np.isfinite(m.mean_styles_).all()
    fresh = StyleTransferGAN(**TINY)._build(2).generator
    pairs = zip(m.nets_.generator.parameters(), fresh.parameters())
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
    # (measured max 2.9e-5) but far above float32 round-off (~1e-7) ...
    assert np.abs(own - other).max() > 5e-6
    np.testing.assert_array_equal(own, m.transform(fu, reference=bl).data)
    # ... and it comes from clearly different style codes of the two references
    mid = to_axial_stack(bl).shape[0] // 2
    codes = [m.nets_.style_encoder(torch.from_numpy(to_signed(to_axial_stack(v)[mid:mid + 1]))[:, None],
                                   torch.tensor([1])) for v in (bl, foreign)]
    assert float((codes[0] - codes[1]).abs().mean()) > 1e-3 * float(codes[0].abs().mean())


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


def test_background_passes_through_and_unknown_reference_scanner_fails(fitted):
    m, cohort = fitted
    case = cohort.split("test-A")[0]
    fu, bl = case.volume("FU"), case.volume("BL")
    out = m.transform(fu, reference=bl).data
    assert float(np.abs(out[fu.data == 0]).max()) == 0.0
    with pytest.raises(DataError, match=r"scanner 'ge-signa' was not a training domain"):
        m.transform(fu, reference=bl.with_data(bl.data, scanner="ge-signa"))


def test_presets_resolve_and_explicit_values_win():
    cfg = StyleTransferGAN(preset="quick", lr=5e-4, crop=0).config()
    assert cfg["lr"] == 5e-4 and cfg["crop"] is None and cfg["dim"] == 16 and cfg["image_size"] is None
    paper = StyleTransferGAN().config()
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

    from harmbench_stgan import trainer as trainer_mod

    cohort = Cohort.from_manifest(toy_manifest)
    ref = StyleTransferGAN(**TINY).fit(cohort)

    real_step, calls = trainer_mod.StarGANv2Trainer.step, []

    def dying_step(self, batch, it):
        if it == 2:                              # after the checkpoint at iteration 2
            raise _Interrupt
        calls.append(it)
        return real_step(self, batch, it)

    monkeypatch.setattr(trainer_mod.StarGANv2Trainer, "step", dying_step)
    with pytest.raises(_Interrupt):
        StyleTransferGAN(**TINY, work_dir=str(tmp_path)).fit(cohort)
    assert (tmp_path / "last" / "state.json").exists()
    monkeypatch.setattr(trainer_mod.StarGANv2Trainer, "step", real_step)

    ran = []
    monkeypatch.setattr(trainer_mod.StarGANv2Trainer, "step",
                        lambda self, batch, it: (ran.append(it), real_step(self, batch, it))[1])
    resumed = StyleTransferGAN(**TINY, work_dir=str(tmp_path)).fit(cohort)
    assert ran == [2, 3]                                       # only the missing iterations ran
    assert [h["iteration"] for h in resumed.history_] == [2, 4]
    for a, b in zip(ref.nets_.generator.state_dict().values(), resumed.nets_.generator.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # another configuration does not resume from it
    other = StyleTransferGAN(**TINY, seed=1, work_dir=str(tmp_path))
    ran.clear()
    other.fit(cohort)
    assert ran[0] == 0
