from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from harmbench import registry
from harmbench.errors import DataError
from harmbench.metrics.new_lesion import NEW_LESION_LABEL, NewLesion, local_contrast, new_lesion_ids
from harmbench.volume import Volume

from .helpers import head, make_ctx, values


def _case(amplitude: float = 0.3):
    """A head with WM labels, two new lesions (a 5-voxel and a 3-voxel blob) on FU, none at BL."""
    bl = head()
    labels = np.where(bl > 0, 2, 0).astype(np.int16)
    zz, yy, xx = np.meshgrid(*(np.arange(n) for n in bl.shape), indexing="ij")
    fu = bl.copy()
    for k, (centre, r) in enumerate((((20, 14, 18), 2.5), ((20, 30, 18), 1.6))):
        blob = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= r * r
        labels[blob] = NEW_LESION_LABEL + k
        fu[blob] += amplitude
    return bl, fu, labels


def test_new_lesions_are_detected_on_fu_and_not_at_bl():
    bl, fu, labels = _case()
    assert new_lesion_ids(labels) == [NEW_LESION_LABEL, NEW_LESION_LABEL + 1]
    v = values(NewLesion().compute(make_ctx(bl, fu, labels=labels, labels_fu=labels)))
    assert v["new-lesion-detected"] == 1.0 and v["new-lesion-count"] == 2.0
    assert v["new-lesion-contrast"] > 2.0
    assert v["new-lesion-contrast-ratio"] == 1.0  # the original FU scored against itself
    # BL scored in FU's place: no lesion at the known locations
    ctx = dataclasses.replace(make_ctx(bl, bl, labels=labels, labels_fu=labels),
                              fu_original=Volume(fu, np.eye(4)))
    b = values(NewLesion().compute(ctx))
    assert b["new-lesion-detected"] == 0.0 and abs(b["new-lesion-contrast"]) < 1.0
    assert b["new-lesion-contrast-ratio"] < 0.2


def test_an_erased_new_lesion_scores_lower_than_the_original_fu():
    bl, fu, labels = _case()
    erased = fu.copy()
    gone = labels == NEW_LESION_LABEL
    erased[gone] = bl[gone]      # a harmonizer that pulled the first lesion back to BL
    ctx = dataclasses.replace(make_ctx(bl, erased, labels=labels, labels_fu=labels),
                              fu_original=Volume(fu, np.eye(4)))
    v = values(NewLesion().compute(ctx))
    orig = values(NewLesion().compute(make_ctx(bl, fu, labels=labels, labels_fu=labels)))
    assert v["new-lesion-detected"] == 0.5 < orig["new-lesion-detected"]
    assert v["new-lesion-contrast-ratio"] < 0.7 < orig["new-lesion-contrast-ratio"]
    assert v["new-lesion-contrast"] < orig["new-lesion-contrast"]


def test_a_label_map_on_another_grid_is_refused():
    bl, fu, labels = _case()
    with pytest.raises(DataError, match=r"FU label map has shape \(40, 44, 35\); the scored image has"):
        NewLesion().compute(make_ctx(bl, fu, labels=labels, labels_fu=labels[:, :, :35]))


def test_no_new_lesion_gives_nan():
    bl = head()
    labels = np.where(bl > 0, 2, 0).astype(np.int16)
    for lab in (labels, None):
        v = values(NewLesion().compute(make_ctx(bl, bl, labels=lab, labels_fu=lab)))
        assert set(v) == set(NewLesion.emits) and all(math.isnan(x) for x in v.values())


def test_local_contrast_is_robust_and_in_noise_units():
    rng = np.random.default_rng(0)
    img = rng.normal(1.0, 0.1, (30, 30, 30))
    mask = np.zeros(img.shape, bool)
    mask[13:17, 13:17, 13:17] = True
    img[mask] += 0.5
    assert 4.0 < local_contrast(img, mask, (1.0, 1.0, 1.0)) < 6.0     # 0.5 / 0.1
    img[0, 0, 0] = 1e6  # an outlier outside the shell changes nothing
    assert 4.0 < local_contrast(img, mask, (1.0, 1.0, 1.0)) < 6.0
    assert math.isnan(local_contrast(img, np.zeros(img.shape, bool), (1.0, 1.0, 1.0)))
    excluded = np.ones(img.shape, bool)
    assert math.isnan(local_contrast(img, mask, (1.0, 1.0, 1.0), exclude=excluded))


def test_metric_is_registered_as_a_core_lesion_metric():
    m = registry.metrics()["new-lesion"]
    assert m.source == "core-metrics"
    metric = registry.get_metric("new-lesion")
    assert metric.kind == "lesion" and metric.directions()["new-lesion-detected"] is True
    assert metric.policy()["threshold"] == 1.0
