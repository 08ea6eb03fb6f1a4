"""The four GAN methods: conformance kit, registry, presets, artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harmbench import registry
from harmbench.errors import DataError, MethodDeclined
from harmbench.testing import check_method
from harmbench_gan.methods import CycleGAN, CycleGANIdentity, OMLCycleGAN, Pix2Pix

#: parameters that make every GAN method train in well under a second per epoch
TINY_CYCLE = dict(epochs=1, iters_per_epoch=2, batch_size=2, ngf=4, n_blocks=1, ndf=4, crop=32, val_slices=4,
                  device="cpu")
TINY_PIX2PIX = dict(epochs=1, iters_per_epoch=2, batch_size=2, ngf=4, ndf=4, depth=5, crop=32, val_slices=4,
                    device="cpu")

FACTORIES = {
    "oml-cyclegan": lambda: OMLCycleGAN(**TINY_CYCLE),
    "cyclegan": lambda: CycleGAN(**TINY_CYCLE),
    "cyclegan-id": lambda: CycleGANIdentity(**TINY_CYCLE),
    "pix2pix": lambda: Pix2Pix(**TINY_PIX2PIX),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_conformance(name, tmp_path, toy_manifest):
    results = check_method(FACTORIES[name], tmp_path, toy_manifest)
    assert all(r.passed for r in results) and len(results) >= 9


def test_registered_through_entry_point():
    table = registry.methods()
    for name, cls in (("oml-cyclegan", OMLCycleGAN), ("cyclegan", CycleGAN), ("cyclegan-id", CycleGANIdentity),
                      ("pix2pix", Pix2Pix)):
        assert table[name].obj is cls and table[name].source == "gan"


def test_inverse_and_artifact(tmp_path, toy_cohort):
    m = OMLCycleGAN(**TINY_CYCLE).fit(toy_cohort)
    case = toy_cohort.split("test-A")[0]
    bl, fu = case.volume("BL"), case.volume("FU")
    h = m.transform(fu)
    assert 0.0 <= h.data.min() and h.data.max() <= 1.0 and np.array_equal(h.affine, fu.affine)
    inv = m.inverse_transform(bl)
    assert inv.shape == bl.shape and not np.allclose(inv.data, h.data)
    d = m.save(tmp_path / "m")
    meta = json.loads((d / "artifact.json").read_text())
    assert meta["method"] == "oml-cyclegan" and sorted(meta["torch"]) == ["G_bl2fu", "G_fu2bl"]
    hist = meta["state"]["training_history"]
    assert meta["state"]["config"]["lambda_oml"] == 10.0 and hist["selected_iteration"] == 2
    assert hist["selection_metric"] == "val_psnr" and "val_ssim" in hist["rows"][0]   # the quick preset's rule
    assert hist["stop_rule"]["metric"] == "val_psnr" and isinstance(hist["near_identity"], bool)
    assert hist["identity_score"] > 10 and hist["iterations_run"] == hist["iteration_cap"] == 2
    assert {"D_bl_real", "D_bl_fake", "D_bl_acc", "G_oml"} <= set(hist["rows"][0])
    loaded = type(m).load(d)                        # a loaded model has its history
    assert loaded.training_history_ == m.training_history_


def test_default_cpu_slice_batch_gives_the_per_slice_result(toy_cohort):
    from harmbench_gan.inference import cpu_slice_batch
    assert cpu_slice_batch(64, 256 * 256) == 1                # paper nets on 256² slices
    assert cpu_slice_batch(16, 96 * 112) == 4 and cpu_slice_batch(16, 128 * 128) == 4  # quick nets
    assert cpu_slice_batch(4, 24 * 28) == 32                  # capped
    m = OMLCycleGAN(**TINY_CYCLE).fit(toy_cohort)
    fu = toy_cohort.split("test-A")[0].volume("FU")
    assert m._infer_batch(24 * 28) == 32
    batched = m.transform(fu).data
    m.set_params(infer_batch=1)
    np.testing.assert_allclose(batched, m.transform(fu).data, atol=1e-5)


def test_presets_fill_only_unset_params():
    m = OMLCycleGAN(ngf=8)
    p = m.resolved_params()
    assert p["ngf"] == 8 and p["n_blocks"] == OMLCycleGAN.presets["quick"]["n_blocks"]
    assert m.get_params()["n_blocks"] is None        # stored verbatim
    with pytest.raises(DataError, match="unknown preset 'huge'"):
        OMLCycleGAN(preset="huge").resolved_params()


def test_bad_crop_is_a_one_line_error(toy_cohort):
    with pytest.raises(DataError, match="crop 20 must be a multiple"):
        Pix2Pix(**{**TINY_PIX2PIX, "crop": 20}).fit(toy_cohort)


def test_declines_unpaired(toy_cohort):
    from harmbench.data.cohort import Cohort

    only_bl = Cohort("x", [type(c)(c.case_id, c.subject, c.split, {"BL": c.sessions["BL"]}) for c in toy_cohort.cases])
    with pytest.raises(MethodDeclined, match="paired"):
        CycleGAN(**TINY_CYCLE).fit(only_bl)


def test_cycle_variants_share_one_signature_and_differ_only_in_lambda_defaults_and_curve_start():
    from harmbench_gan.methods import CycleGANFamily

    for cls in (OMLCycleGAN, CycleGAN, CycleGANIdentity):
        assert cls.__init__ is CycleGANFamily.__init__ and cls.__mro__[1] is CycleGANFamily
    resolved = {cls.name: cls().resolved_params() for cls in (OMLCycleGAN, CycleGAN, CycleGANIdentity)}
    assert [(r["lambda_oml"], r["lambda_identity"]) for r in resolved.values()] == [(10.0, 0.0), (0.0, 0.0), (0.0, 2.5)]
    # quick preset: the plain variants start the intensity curve at the cohort's quantile map, OML at zero
    assert [r["curve_init"] for r in resolved.values()] == ["zero", "quantile", "quantile"]
    same = {k for k in resolved["cyclegan"] if k not in ("lambda_oml", "lambda_identity", "curve_init")}
    assert all(resolved["cyclegan"][k] == resolved["oml-cyclegan"][k] == resolved["cyclegan-id"][k] for k in same)
    # an explicit value beats the variant, and run names keep working
    m = registry.build_method("oml-cyclegan", {"lambda_oml": 5})
    assert m.resolved_params()["lambda_oml"] == 5 and m.get_params()["lambda_oml"] == 5
    assert m._model_config(m.resolved_params()).lambda_oml == 5.0


def test_model_config_comes_from_the_parameters():
    from dataclasses import fields

    from harmbench_gan.models import CycleConfig

    p = CycleGANIdentity(preset="tiny", lr=1e-3).resolved_params()
    cfg = CycleGANIdentity()._model_config(p)
    for f in fields(CycleConfig):
        if f.name in p:
            assert getattr(cfg, f.name) == p[f.name], f.name
    assert cfg.lambda_identity == 2.5 and cfg.n_down == CycleConfig.n_down and isinstance(cfg.lr, float)


def test_quick_presets_train_to_convergence_within_caps_and_paper_keeps_a_fixed_schedule():
    from harmbench.training.stopping import Patience

    for cls in (OMLCycleGAN, CycleGAN, CycleGANIdentity, Pix2Pix):
        p = cls().resolved_params()
        loop = cls._loop_config(p, int(p["iters_per_epoch"]))
        assert (loop.iterations, loop.val_every, loop.time_cap_s) == (480, 30, 600.0), cls.name
        assert loop.selection.metric == "val_psnr" and loop.identity_floor == 0.05
        assert loop.stopping == Patience(metric="val_psnr", patience=4, min_delta=0.02, window=3, min_iterations=240)
        paper = cls(preset="paper").resolved_params()
        fixed = cls._loop_config(paper, 100)
        assert fixed.stopping is None and fixed.time_cap_s is None and fixed.selection.metric == "val_ssim"
        assert fixed.iterations == 100 * int(paper["epochs"])
    # a run spec switches the quick preset back to a fixed schedule
    p = registry.build_method("cyclegan-id", {"patience": 0, "time_cap": 0.0}).resolved_params()
    assert OMLCycleGAN._loop_config(p, 30).stopping is None


@pytest.mark.parametrize(("name", "params", "message"), [
    ("oml-cyclegan", {"patience": -1}, r"parameter 'patience' must be an int in \[0, inf\)"),
    ("pix2pix", {"select_by": "lpips"}, r"parameter 'select_by' must be one of"),
    ("oml-cyclegan", {"lr": -1}, r"oml-cyclegan: parameter 'lr' must be a float in \(0, inf\) or None; got -1"),
    ("cyclegan", {"discriminator": "big"}, r"parameter 'discriminator' must be one of"),
    ("cyclegan-id", {"lambda_identity": -2.5}, r"parameter 'lambda_identity' must be a float in \[0, inf\)"),
    ("pix2pix", {"dropout": 1.0}, r"parameter 'dropout' must be a float in \[0, 1\)"),
    ("pix2pix", {"batch_size": 2.5}, r"parameter 'batch_size' must be an int"),
    ("oml-cyclegan", {"precision": "half"}, r"parameter 'precision' must be one of"),
    ("oml-cyclegan", {"ngf": 100_000}, r"gives networks of .* parameters"),
])
def test_bad_parameters_fail_at_planning_time(name, params, message):
    """``build_method`` (the harness's planning step) rejects them with one line, before any fit."""
    with pytest.raises(DataError, match=message) as err:
        registry.build_method(name, params)
    assert "\n" not in str(err.value)
