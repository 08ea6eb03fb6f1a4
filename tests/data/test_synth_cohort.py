"""The synthetic cohort: determinism, anatomy, lesion ground truth and the scanner gap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from harmbench_synth.anatomy import subject_anatomy
from harmbench_synth.cohort import plan_cases, simulate_case
from harmbench_synth.presets import PRESETS, Preset
from harmbench_synth.realism import TABLE4_REGIONS, cortex_mask

from harmbench.data.cohort import Cohort
from harmbench.io import load_labels, load_volume


def test_counts_splits_and_subjects(tiny_raw):
    df = pd.read_csv(tiny_raw, dtype=str, keep_default_na=False)
    cases = df.groupby("case")
    assert len(cases) == 12
    assert df.drop_duplicates("case")["split"].value_counts().to_dict() == {
        "train": 6, "val": 2, "test-A": 2, "test-B": 2}
    assert all(sorted(g["session"]) == ["BL", "FU", "FU2"] for _, g in cases)
    assert (df.groupby("subject")["split"].nunique() == 1).all()
    fu = df[df.session == "FU"]
    assert set(fu["vendor"]) == {"philips"} and set(df[df.session != "FU"]["vendor"]) == {"siemens"}
    meta = json.loads((tiny_raw.parent / "dataset.json").read_text())
    assert meta["name"] == "synth-tiny" and meta["template_space"] is False and len(meta["dataset_hash"]) == 64


def test_same_seed_gives_byte_identical_files(tiny_raw, tmp_path):
    preset = PRESETS["synth-tiny"]
    plans = plan_cases(preset, 0)
    assert plans == plan_cases(preset, 0)
    for plan in (plans[0], plans[-1]):  # a train case and a test-B case, rebuilt in one process
        simulate_case(preset, 0, plan, tmp_path)
        for f in sorted((tmp_path / "cases" / plan.case).iterdir()):
            assert f.read_bytes() == (tiny_raw.parent / "cases" / plan.case / f.name).read_bytes(), f.name
    # another seed gives other cases and other anatomy
    assert plan_cases(preset, 1) != plans
    a = subject_anatomy(np.random.default_rng(np.random.SeedSequence([0, 1, 0])), preset.sim_spacing)
    b = subject_anatomy(np.random.default_rng(np.random.SeedSequence([1, 1, 0])), preset.sim_spacing)
    assert a.params != b.params and not np.array_equal(a.labels, b.labels)


def test_every_label_map_has_all_table4_regions(tiny_raw):
    df = pd.read_csv(tiny_raw, dtype=str, keep_default_na=False)
    for rel in df["labels"]:
        lab, _ = load_labels(tiny_raw.parent / rel)
        present = set(np.unique(lab).tolist())
        for region, ids in TABLE4_REGIONS.items():
            missing = [i for i in ids if i not in present]
            assert not missing, f"{rel}: {region} labels {missing} absent"
        assert lab.min() >= 0


def test_lesion_masks_are_binary_target_and_inside_brain(tiny_raw):
    df = pd.read_csv(tiny_raw, dtype=str, keep_default_na=False)
    for _, row in df.iterrows():
        les, _ = load_labels(tiny_raw.parent / row["lesion"])
        lab, _ = load_labels(tiny_raw.parent / row["labels"])
        assert set(np.unique(les).tolist()) == {0, 1}
        assert np.isin(lab[les > 0], (25, 57)).all()  # FreeSurfer Left-/Right-Lesion


def _lesion_mm3(path) -> float:
    les, aff = load_labels(path)
    return float(les.sum()) * abs(float(np.linalg.det(aff[:3, :3])))


def test_lesion_volumes_follow_the_recorded_change(tmp_path):
    # a 2.67 mm grid (it reuses synth-tiny's 2 mm reference head): counting the voxels of an
    # 18-25 mm lesion there is accurate to ~1.5 %, so a 5 % tolerance tests the ground truth
    preset = Preset("check", "", 0, 0, 1, 1, scale=8.0 / 3.0, fov_mm=(192.0, 224.0, 192.0),
                    prepare_spacing=8.0 / 3.0, target_diameter_mm=(18.0, 25.0))
    for plan in plan_cases(preset, 3):
        res = simulate_case(preset, 3, plan, tmp_path)
        v = {s: _lesion_mm3(tmp_path / f"cases/{plan.case}/{s}_lesion.nii.gz") for s in ("BL", "FU", "FU2")}
        truth = res.truth["lesions"][0]
        if plan.split == "test-A":
            assert plan.change == 0.0
            assert abs(v["FU"] / v["BL"] - 1.0) < 0.05
        else:
            assert 0.2 <= abs(plan.change) <= 0.6
            assert abs((v["FU"] / v["BL"]) / (1.0 + plan.change) - 1.0) < 0.05
            assert abs(truth["volume_fu_mm3"] / truth["volume_bl_mm3"] - 1.0 - plan.change) < 1e-3
        # FU2 is the same-scanner rescan at the FU time point: it carries the FU's true change
        assert abs((v["FU2"] / v["BL"]) / (1.0 + plan.change) - 1.0) < 0.05
        assert res.truth["fu2_change"] == plan.change
        assert abs(v["BL"] / truth["volume_bl_mm3"] - 1.0) < 0.08


def _region_mean(img, lab, ids) -> float:
    return float(img[np.isin(lab, ids)].mean())


def test_scanner_gap_changes_contrast_ratios_not_just_scale(tiny_raw):
    cohort = Cohort.from_manifest(tiny_raw)
    wm_gm, pal_put = {"BL": [], "FU": []}, {"BL": [], "FU": []}
    for case in cohort.cases:
        for s in ("BL", "FU"):
            img = case.volume(s).data
            lab = case.labels(s)
            wm = _region_mean(img, lab, (2, 41))
            wm_gm[s].append(wm / float(img[cortex_mask(lab)].mean()))
            pal_put[s].append(_region_mean(img, lab, (13, 52)) / _region_mean(img, lab, (12, 51)))
    # Siemens MPRAGE (BL) has the stronger WM/GM and pallidum/putamen contrast than Philips TFE (FU)
    assert np.mean(wm_gm["BL"]) - np.mean(wm_gm["FU"]) > 0.1
    assert np.mean(pal_put["BL"]) - np.mean(pal_put["FU"]) > 0.03
    assert all(b > f for b, f in zip(wm_gm["BL"], wm_gm["FU"]))


def test_siemens_and_philips_profiles_differ_in_sequence_physics():
    from harmbench_synth.physics import mprage_signal
    from harmbench_synth.profiles import PHILIPS_TFE, SIEMENS_MPRAGE
    from harmbench_synth.tissues import TISSUES

    def rel(p, name):
        t = TISSUES[name]
        s = mprage_signal(np.array([1000 / t.t1 + t.dr1]), np.array([t.pd]), np.array([1000 / t.t2s]), 1.0, p)
        w = TISSUES["cerebral-wm"]
        ref = mprage_signal(np.array([1000 / w.t1 + w.dr1]), np.array([w.pd]), np.array([1000 / w.t2s]), 1.0, p)
        return float(s[0] / ref[0])

    assert abs(rel(SIEMENS_MPRAGE, "cortex") - 0.64) < 0.03
    assert abs(rel(PHILIPS_TFE, "cortex") - 0.75) < 0.03
    assert rel(SIEMENS_MPRAGE, "enhancing") > 1.25 and rel(PHILIPS_TFE, "enhancing") > 1.25
    assert rel(SIEMENS_MPRAGE, "csf") < 0.3


def test_raw_images_are_scanner_native(tiny_raw):
    d = tiny_raw.parent / "cases" / "c0000"
    bl, fu = load_volume(d / "BL.nii.gz"), load_volume(d / "FU.nii.gz")
    assert bl.orientation == ("R", "A", "S") and fu.orientation == ("L", "P", "S")
    assert np.allclose(bl.spacing, 4.0) and np.allclose(fu.spacing, 3.6)
    assert bl.shape != fu.shape


def test_target_lesions_enhance_and_other_lesions_span_the_physics_range():
    """The target lesion is a measurable enhancing lesion: its post-contrast R1 reaches WM's.

    Other lesions keep PHYSICS.md's whole [Gd] range (0.08-0.25 mM), faint ones included.
    """
    from harmbench_synth.lesions import GD_RANGE_MM, random_lesion, target_gd_floor
    from harmbench_synth.tissues import R1_PLASMA, TISSUES

    wm = TISSUES["cerebral-wm"]
    r1_wm = 1000.0 / wm.t1 + wm.dr1
    rng = np.random.default_rng(3)
    targets = [random_lesion(rng, np.zeros(3), 15.0, target=True) for _ in range(400)]
    others = [random_lesion(rng, np.zeros(3), 15.0) for _ in range(400)]
    r1_targets = np.array([1000.0 / les.t1 + R1_PLASMA * les.gd_mm for les in targets])
    assert r1_targets.min() >= r1_wm - 1e-9
    gd_others = np.array([les.gd_mm for les in others])
    assert GD_RANGE_MM[0] <= gd_others.min() < GD_RANGE_MM[0] + 0.01
    assert GD_RANGE_MM[1] - 0.01 < gd_others.max() <= GD_RANGE_MM[1]
    assert all(GD_RANGE_MM[0] <= les.gd_mm <= GD_RANGE_MM[1] for les in targets)
    # the floor is the WM crossing: a long-T1 lesion needs more gadolinium than a short-T1 one
    assert target_gd_floor(1900.0) > target_gd_floor(1500.0) > GD_RANGE_MM[0]


def test_lesion_partial_volume_mixes_signals_not_relaxation_rates():
    """Half rim, half necrosis reads as the mean of the two signals (not the signal of mean R1)."""
    from harmbench_synth.acquire import mix_compartments
    from harmbench_synth.lesions import Compartment
    from harmbench_synth.physics import mprage_signal
    from harmbench_synth.profiles import SIEMENS_MPRAGE as P

    def s(r1, pd, r2s):
        return float(mprage_signal(np.array([r1]), np.array([pd]), np.array([r2s]), 1.0, P)[0])

    rim, necrosis = (1000 / 1700 + 4.97 * 0.17, 0.85, 20.0), (1000 / 2600 + 0.1, 0.95, 10.0)
    signal = np.full((1, 1, 2), s(*rim), np.float32)
    box = (slice(0, 1), slice(0, 1), slice(0, 2))
    core = Compartment(box, np.array([[[0.5, 1.0]]], np.float32), necrosis[0], necrosis[1], necrosis[2], 0.0)
    mix_compartments(signal, [core], 1.0, 1.0, P)
    assert signal[0, 0, 0] == pytest.approx(0.5 * (s(*rim) + s(*necrosis)), rel=1e-5)
    assert signal[0, 0, 1] == pytest.approx(s(*necrosis), rel=1e-5)
    # blending the relaxation rates instead would read brighter (the signal is concave in R1 here)
    blended = s(*(0.5 * (a + b) for a, b in zip(rim, necrosis)))
    assert blended > signal[0, 0, 0] * 1.05
