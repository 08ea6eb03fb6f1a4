"""Work shared between the metrics of a case gives exactly the numbers of the unshared path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.io import save_volume
from harmbench.metrics.base import ScoringContext
from harmbench.metrics.lesion_seg import fill_holes
from harmbench.metrics.shared import SharedWork
from harmbench.metrics.similarity import SsimReference, ssim_map


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _rows(metric, ctx) -> dict:
    return {(v.metric, v.region): v.value for v in metric.compute(ctx)}


def test_ssim_reference_equals_skimage_bit_for_bit():
    rng = np.random.default_rng(0)
    a = rng.random((14, 17, 12)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    assert np.array_equal(SsimReference(a).map(b), ssim_map(a, b))
    stacked = SsimReference(a, stacked=True).map(b)   # 2-D maps of every slice along axis 0
    assert all(np.array_equal(stacked[i], ssim_map(a[i], b[i])) for i in range(a.shape[0]))
    assert not SsimReference.fits((5, 20, 20)) and SsimReference.fits((5, 20, 20), stacked=True)


def test_fill_holes_equals_the_slice_loop():
    def loop(mask):
        out = ndimage.binary_fill_holes(mask)
        for axis in range(mask.ndim):
            moved = np.moveaxis(out, axis, 0)
            filled = np.stack([ndimage.binary_fill_holes(s) for s in moved])
            out = out | np.moveaxis(filled, 0, axis)
        return out

    rng = np.random.default_rng(1)
    for _ in range(30):
        shape = tuple(int(n) for n in rng.integers(3, 16, 3))
        mask = ndimage.gaussian_filter(rng.random(shape), 1.0) > rng.uniform(0.45, 0.55)
        assert np.array_equal(fill_holes(mask), loop(mask))


def test_memo_computes_once_and_freezes_arrays():
    work, calls = SharedWork(), []

    def make():
        calls.append(1)
        return np.zeros(3)

    first = work.for_case("k", make)
    assert work.for_case("k", make) is first and len(calls) == 1
    with pytest.raises(ValueError):
        first[0] = 1.0
    assert SharedWork(case=work.case).for_case("k", make) is first   # a shared case store
    assert "k" not in SharedWork().case                                # a fresh one


def test_shared_case_work_gives_the_per_metric_values(toy_manifest, tmp_path):
    """Two images of one case scored with shared case/session stores (as the harness does) vs
    every metric on its own fresh context: identical values, bit for bit."""
    from harmbench.harness import units

    cohort = Cohort.from_manifest(toy_manifest)
    case = next(c for c in cohort.cases if c.has("FU") and c.lesion("BL") is not None)
    fu = case.volume("FU")
    other = tmp_path / "other.nii"
    save_volume(fu.with_data(np.clip(fu.data * 0.9 + 0.03, 0, 1)), other)
    metrics = [registry.get_metric(n) for n in registry.metrics() if registry.get_metric(n).available() is None]
    assert {"similarity", "slice-similarity", "cnr", "lesion", "change-read", "tissue-volumes"} <= {
        m.name for m in metrics}
    units._CASE_INPUTS.clear()
    for image in (None, str(other)):   # the second context reuses the case-level entries
        shared = units._scoring_context(case.case_id, str(toy_manifest), image, str(other), "FU")
        for m in metrics:
            # the same arrays (memory layout decides float64 summation order), no shared work
            fresh = ScoringContext(case=shared.case, bl=case.volume("BL"), fu=shared.fu,
                                   fu_original=case.volume("FU"), recon=shared.recon,
                                   labels_bl=case.labels("BL"), labels_fu=case.labels("FU"),
                                   lesion_bl=case.lesion("BL"), lesion_fu=case.lesion("FU"),
                                   slice_range=case.slice_range, change=case.change)
            assert _same(_rows(m, shared), _rows(m, fresh)), m.name
    assert shared.shared.case and shared.shared.session    # the case's work was shared
    units._CASE_INPUTS.clear()


def test_score_case_unit_isolates_a_failing_image(toy_manifest, tmp_path):
    from harmbench.harness.units import score_case_unit

    case = Cohort.from_manifest(toy_manifest).cases[0].case_id
    job = {"case_id": case, "manifest": str(toy_manifest), "image": None, "recon": None, "session": "FU"}
    out = score_case_unit([{**job, "records": {"similarity": str(tmp_path / "a.json")}},
                           {**job, "image": str(tmp_path / "missing.nii"),
                            "records": {"similarity": str(tmp_path / "b.json")}},
                           {**job, "records": {"input-change": str(tmp_path / "c.json")}}])
    assert [o.error is None for o in out] == [True, False, True]
    assert "missing.nii" in out[1].error
    assert out[0].result["rows"] and out[2].result["rows"]


def test_case_inputs_are_kept_until_a_file_changes(tmp_path):
    from harmbench.harness import units
    from harmbench.io import load_volume
    from harmbench.testing.toy import write_toy_cohort

    manifest = str(write_toy_cohort(tmp_path))
    case = Cohort.from_manifest(manifest).cases[0]
    first = units._case_inputs(manifest, case.case_id, "FU")
    assert units._case_inputs(manifest, case.case_id, "FU")[1]["bl"] is first[1]["bl"]
    path = case.ref("BL").image
    vol = load_volume(path)
    save_volume(vol.with_data(vol.data * 0.5), path)
    again = units._case_inputs(manifest, case.case_id, "FU")
    assert again[1]["bl"] is not first[1]["bl"] and again[2][0] is not first[2][0]
    assert np.array_equal(again[1]["bl"].data, vol.data * 0.5)
    units._CASE_INPUTS.clear()
