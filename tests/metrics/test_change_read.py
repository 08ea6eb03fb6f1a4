from __future__ import annotations

import math

import numpy as np
import pytest

from harmbench.data.cohort import Cohort
from harmbench.metrics.base import ScoringContext
from harmbench.metrics.change_read import CALLS, ChangeRead

from .helpers import values

#: the calls on the target lesion (``change-new-lesion`` is NaN in a cohort without new lesions)
TARGET_CALLS = tuple(c for c in CALLS if c != "change-new-lesion")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from harmbench.testing.toy import write_toy_cohort

    m = write_toy_cohort(tmp_path_factory.mktemp("toy-change"), n_train=0, n_val=0, n_test_a=1, n_test_b=1,
                         shape=(48, 56, 48), seed=3)
    return Cohort.from_manifest(m)


def _ctx(case, fu_session="FU", fu_data=None) -> ScoringContext:
    bl, fu = case.volume("BL"), case.volume(fu_session)
    if fu_data is not None:
        fu = fu.with_data(fu_data)
    return ScoringContext(case=case, bl=bl, fu=fu, fu_original=case.volume("FU"), labels_bl=case.labels("BL"),
                          labels_fu=case.labels(fu_session), lesion_bl=case.lesion("BL"),
                          lesion_fu=case.lesion(fu_session), slice_range=case.slice_range, change=case.change)


def test_stable_lesion_is_read_unchanged(cohort):
    case = cohort.split("test-A")[0]
    for session in ("BL", "FU2"):
        v = values(ChangeRead().compute(_ctx(case, session)))
        assert all(v[c] == 0.0 for c in TARGET_CALLS if c != "change-kept"), (session, v)
        assert math.isnan(v["change-new-lesion"])  # no new lesions in this cohort
        assert abs(v["lesion-volume-change"]) < 0.05
    # the original FU (other scanner) keeps the lesion's size but not its contrast: a scanner-induced
    # "enhancement changed" call, which harmonization should remove
    v = values(ChangeRead().compute(_ctx(case, "FU")))
    assert v["change-size"] == 0.0 and v["change-enhancement"] == 1.0
    # analytic contrast change of the phantom: ((0.85/0.72)^1.3 - 1) / (0.95/0.80 - 1) - 1 = 0.29,
    # plus the FU gain field's variation between the lesion and its WM reference
    assert 0.15 < v["lesion-enhancement-change"] < 0.6


def test_true_growth_is_read_as_size_change(cohort):
    case = cohort.split("test-B")[0]
    assert case.change > 0.4
    v = values(ChangeRead().compute(_ctx(case, "FU")))
    assert v["change-size"] == 1.0 and v["change-any"] == 1.0
    # the toy's lesions are hard-edged voxel ellipsoids (no point-spread function), which the
    # model-fit segmenter measures at -5.5 % (BL) and +4 % (FU, 2x larger): the volume *ratio* is
    # checked, to the accuracy a ±6 % error on each volume allows
    ratio = (1.0 + v["lesion-volume-change"]) / (1.0 + case.change)
    assert ratio == pytest.approx(1.0, abs=0.12)


def test_enhancement_change_and_vanished_lesion(cohort):
    case = cohort.split("test-A")[0]
    ctx = _ctx(case, "FU2")
    les, lab = ctx.lesion_bl, ctx.labels_bl
    wm = float(np.median(ctx.fu.data[lab == 2]))
    boosted = ctx.fu.data.copy()
    boosted[les] = wm + 1.6 * (boosted[les] - wm)          # stronger enhancement, same lesion
    v = values(ChangeRead().compute(_ctx(case, "FU2", boosted)))
    assert v["change-enhancement"] == 1.0 and v["lesion-enhancement-change"] > 0.15
    erased = ctx.fu.data.copy()
    erased[les] = wm                                       # a method that removes the lesion
    v = values(ChangeRead().compute(_ctx(case, "FU2", erased)))
    assert all(v[c] == 1.0 for c in TARGET_CALLS if c != "change-kept") and v["lesion-volume-change"] == -1.0


def test_thresholds_are_parameters(cohort):
    case = cohort.split("test-B")[0]
    v = values(ChangeRead(size_threshold=10.0, border_mm=100.0, enhancement_threshold=10.0)
               .compute(_ctx(case, "FU")))
    assert all(v[c] == 0.0 for c in TARGET_CALLS) and math.isnan(v["change-new-lesion"])
    no_seed = _ctx(case, "FU")
    no_seed.lesion_bl = None
    v = values(ChangeRead().compute(no_seed))
    assert all(math.isnan(v[c]) for c in CALLS + ("lesion-volume-change", "lesion-border-shift"))


def test_volume_errors_use_the_recorded_true_volume(cohort):
    """``lesion_mm3`` (the true volume) replaces the mask's voxel count as the instrument's truth."""
    import dataclasses

    case = cohort.split("test-A")[0]
    ctx = _ctx(case, "FU2")
    by_mask = ChangeRead().measure(ctx)
    voxel = float(np.prod(ctx.bl.spacing))
    mask_bl = float(ctx.lesion_bl.sum()) * voxel
    true = dataclasses.replace(ctx, lesion_bl_mm3=1.25 * mask_bl, lesion_fu_mm3=0.8 * float(ctx.lesion_fu.sum()) * voxel)
    by_truth = ChangeRead().measure(true)
    assert (1 + by_truth["lesion-volume-error-bl"]) == pytest.approx((1 + by_mask["lesion-volume-error-bl"]) / 1.25)
    assert (1 + by_truth["lesion-volume-error"]) == pytest.approx((1 + by_mask["lesion-volume-error"]) / 0.8)


def _with_new_lesion(case, *, drawn: bool, fu_session: str = "FU") -> ScoringContext:
    """The case's FU with a new 3-voxel-radius lesion marked in the label map, deep in white matter;
    ``drawn``: also present in the image (bright), else only marked (a harmonizer erased it)."""
    from scipy import ndimage

    from harmbench.metrics.new_lesion import NEW_LESION_LABEL

    ctx = _ctx(case, fu_session)
    labels = np.array(ctx.labels_fu)
    wm = np.isin(labels, (2, 41)) & ~np.asarray(ctx.lesion_fu, bool)
    depth = ndimage.distance_transform_edt(wm)
    centre = np.unravel_index(int(np.argmax(depth)), labels.shape)
    assert depth[centre] >= 4
    grid = np.indices(labels.shape)
    blob = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= 9
    labels[blob] = NEW_LESION_LABEL
    data = np.array(ctx.fu.data)
    if drawn:
        data[blob] *= 1.6
    import dataclasses

    return dataclasses.replace(ctx, fu=ctx.fu.with_data(data), labels_fu=labels)


def test_a_new_lesion_is_progression_and_missing_it_is_a_missed_progression(cohort):
    grown = cohort.split("test-B")[0]
    seen = values(ChangeRead().compute(_with_new_lesion(grown, drawn=True)))
    assert seen["change-new-lesion"] == 1.0 and seen["change-kept"] == 1.0 and seen["change-any"] == 1.0
    missed = values(ChangeRead().compute(_with_new_lesion(grown, drawn=False)))
    # the target's growth is still read, but the new lesion is gone: progression missed
    assert missed["change-size"] == 1.0
    assert missed["change-new-lesion"] == 0.0 and missed["change-kept"] == 0.0
    # a stable target with a new lesion: the case changed, and the read says so
    stable = cohort.split("test-A")[0]
    v = values(ChangeRead().compute(_with_new_lesion(stable, drawn=True, fu_session="FU2")))
    assert v["change-size"] == 0.0 and v["change-new-lesion"] == 1.0
    assert v["change-any"] == 1.0 and v["change-kept"] == 1.0


def test_size_threshold_takes_the_middle_of_the_widest_gap():
    from harmbench.metrics.change_read import SIZE_GRID, _size_threshold, size_errors

    # one error is unavoidable; thresholds below 0.075 and from 0.08 to 0.295 both make only one:
    # the wide run is the robust choice (a narrow run is a gap one more case would close)
    stable = [0.02, 0.08]
    changed = [(0.5, 0.075), (0.5, 0.30)]
    errors = size_errors(stable, changed)
    assert errors.min() == 1 and errors[SIZE_GRID < 0.075].max() == 1
    t = _size_threshold(stable, changed)
    assert 0.17 <= t <= 0.2 and size_errors(stable, changed)[list(SIZE_GRID).index(t)] == 1
