"""``curve_init="quantile"`` (issue #23): the generators' intensity curves start at the training set's
pooled quantile maps, so on a pair whose scanner difference is a known monotone curve the untrained
generators already undo it, in both directions, and leave the air alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harmbench.errors import DataError
from harmbench.testing.curve_pair import head_slices, scanner_curve
from harmbench_gan.data import PairedSlices
from harmbench_gan.methods import CycleGAN
from harmbench_gan.models import CycleConfig, CycleModel


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(4.0 / np.mean((a - b) ** 2)))  # [-1, 1] images: range 2


def _model(init: str) -> CycleModel:
    return CycleModel(CycleConfig(ngf=4, n_blocks=1, ndf=4, residual=True, intensity_curve=True, curve_init=init,
                                  discriminator="patch"), seed=0, precision="fp32")


@pytest.fixture(scope="module")
def pair() -> PairedSlices:
    bl = head_slices(12, seed=1)
    fu = scanner_curve(bl)
    return PairedSlices((2 * bl - 1).astype(np.float32), (2 * fu - 1).astype(np.float32), bl > 0.05)


def test_quantile_init_starts_at_the_cohort_map_in_both_directions(pair):
    model = _model("quantile")
    model.init_from_data(pair)
    fake_bl = model.run("G_fu2bl", torch.from_numpy(pair.fu[:, None]))[:, 0].numpy()
    fake_fu = model.run("G_bl2fu", torch.from_numpy(pair.bl[:, None]))[:, 0].numpy()
    identity = _psnr(pair.fu, pair.bl)                    # ≈ 14 dB: the curve is a large shift
    assert _psnr(fake_bl, pair.bl) > identity + 20        # measured 40.4 dB
    assert _psnr(fake_fu, pair.fu) > identity + 20        # measured 40.3 dB
    air = ~pair.head
    assert np.abs(fake_bl - pair.fu)[air].max() < 0.01    # background anchored: air stays air


def test_zero_init_is_the_identity_and_ignores_the_data(pair):
    model = _model("zero")
    model.init_from_data(pair)                            # a no-op
    out = model.run("G_fu2bl", torch.from_numpy(pair.fu[:, None]))[:, 0].numpy()
    assert np.abs(out - np.clip(pair.fu, -0.999, 0.999)).max() < 1e-5


def test_quantile_init_needs_head_masks(pair):
    with pytest.raises(DataError):
        _model("quantile").init_from_data(PairedSlices(pair.bl, pair.fu))


def test_curve_init_is_a_declared_option():
    assert CycleGAN(curve_init="quantile").get_params()["curve_init"] == "quantile"
    with pytest.raises(DataError):
        CycleGAN(curve_init="histogram").check_params()
