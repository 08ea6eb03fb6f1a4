from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from harmbench import registry
from harmbench.metrics.input_change import InputChange
from harmbench.volume import Volume
from .helpers import head, make_ctx, values


def _pair(original: np.ndarray, scored: np.ndarray):
    ctx = make_ctx(original, scored)       # BL = original FU here: only the BL head mask is used from it
    return dataclasses.replace(ctx, fu_original=Volume(original.astype(np.float32), ctx.bl.affine))


def test_rms_change_over_the_head_mask_only():
    orig = head()
    sign = np.where(np.indices(orig.shape).sum(axis=0) % 2 == 0, 1.0, -1.0)
    scored = orig + 0.03 * sign                                   # |change| = 0.03 everywhere ...
    scored[0, 0, :] += 1.0                                        # ... and +1 on a background edge
    got = values(InputChange().compute(_pair(orig, scored)))["input-rms-change"]
    assert got == pytest.approx(0.03, rel=1e-4)                   # the background edge does not count


def test_identical_images_change_zero_and_empty_mask_is_nan():
    orig = head(seed=2)
    assert values(InputChange().compute(_pair(orig, orig.copy())))["input-rms-change"] == 0.0
    flat = np.full((12, 12, 12), 0.4, np.float32)                  # constant BL: empty head mask
    assert math.isnan(values(InputChange().compute(_pair(flat, flat + 0.1)))["input-rms-change"])


def test_input_change_is_registered_without_direction():
    assert registry.metrics()["input-change"].source == "core-metrics"
    m = InputChange()
    assert m.directions() == {"input-rms-change": None} and m.kind == "input-change"
