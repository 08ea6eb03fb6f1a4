from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmbench.leaderboard.downstream import ICC, downstream_summary, icc
from harmbench.metrics.tissue import TissueVolumes, segment_tissues

from .helpers import make_ctx


def brain(seed: int = 0, wm_size: int = 8):
    """Three tissue slabs (CSF 0.2, GM 0.5, WM 0.8, noise SD 0.02) with a label map.

    Labels: lateral ventricle 4 on CSF, cortex 3 on GM, cerebral WM 2 on WM; ``wm_size`` slices of WM.
    """
    rng = np.random.default_rng(seed)
    shape = (6 + 8 + wm_size, 20, 20)
    img = np.zeros(shape, np.float32)
    lab = np.zeros(shape, np.int32)
    for (a, b), value, label in (((0, 6), 0.2, 4), ((6, 14), 0.5, 3), ((14, 14 + wm_size), 0.8, 2)):
        img[a:b] = value
        lab[a:b] = label
    img += rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, 1), lab


def test_segmenter_orders_classes_by_intensity():
    img, lab = brain()
    seg = segment_tissues(img, lab > 0)
    assert (seg[:6] == 1).all() and (seg[6:14] == 2).all() and (seg[14:] == 3).all()


def test_an_image_against_itself_gives_zero_difference_dice_one_and_icc_one():
    rows = []
    metric = TissueVolumes()
    for case in range(6):
        img, lab = brain(seed=case, wm_size=4 + case)        # volumes vary across cases, for the ICC
        for v in metric.compute(make_ctx(img, img.copy(), spacing=(1.0, 1.0, 2.0), labels=lab)):
            rows.append({"test_set": "A", "run": "self", "method": "self", "case": f"c{case}",
                         "metric": v.metric, "region": v.region, "value": v.value})
    res = pd.DataFrame(rows)
    regions = set(res["region"])
    assert {"csf", "gm", "wm", "cerebral-wm", "cerebral-cortex", "lateral-ventricles"} == regions
    assert (res[res["metric"] == "tissue-volume-diff"]["value"] == 0.0).all()
    assert (res[res["metric"] == "tissue-dice"]["value"] == 1.0).all()
    wm = res[(res["metric"] == "tissue-volume-bl") & (res["region"] == "wm")].set_index("case")["value"]
    assert wm["c0"] == pytest.approx(4 * 400 * 2.0 / 1000)  # 4 slices of 20x20 voxels of 2 mm^3, in mL
    s = downstream_summary(res)
    iccs = s[s["metric"] == ICC]
    assert set(iccs["region"]) == regions and np.allclose(iccs["mean"], 1.0) and (iccs["n"] == 6).all()


def test_a_contrast_shift_moves_tissue_volumes_and_lowers_agreement():
    img, lab = brain()
    shifted = img.copy()
    shifted[6:10] += 0.3                     # half of GM (4 of 8 slices) now looks like WM
    vals = {(v.metric, v.region): v.value for v in TissueVolumes().compute(make_ctx(img, shifted, labels=lab))}
    assert vals[("tissue-volume-diff", "gm")] == pytest.approx(50.0, abs=1.0)
    assert vals[("tissue-dice", "gm")] == pytest.approx(2 / 3, abs=0.01)
    assert vals[("tissue-volume-diff", "cerebral-cortex")] == pytest.approx(50.0, abs=1.0)
    assert vals[("tissue-volume-diff", "csf")] == pytest.approx(0.0)


def test_icc_drops_when_volumes_disagree():
    bl = pd.Series([10.0, 12.0, 14.0, 16.0, 18.0], index=list("abcde"))
    value, lo, hi, n = icc(bl, bl[::-1].set_axis(bl.index))
    assert n == 5 and value < 0 and hi < 0.5
