"""Long-form leaderboard results built from stated effects, shared by the report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

N_CASES = 12


def leaderboard_results(runs: dict[str, tuple[float, float, float]], seed: int = 0) -> pd.DataFrame:
    """Long-form results for test set A: run -> (PSNR gain over FU in dB, jitter SD, input RMS change).

    Also a cnr-diff in one region, lowered by a tenth of the PSNR gain, for ``N_CASES`` cases.
    """
    rng = np.random.default_rng(seed)
    base = 25.0 + rng.normal(0, 1.0, N_CASES)
    cnr = 0.5 + rng.normal(0, 0.05, N_CASES)
    rows = []
    for run, (gain, jitter, rms) in {"original-fu": (0.0, 0.0, 0.0), **runs}.items():
        d = gain + rng.normal(0, jitter, N_CASES)
        for i in range(N_CASES):
            for m, reg, v in (("psnr", "", base[i] + d[i]), ("input-rms-change", "", rms),
                              ("cnr-diff", "caudate", cnr[i] - d[i] / 10)):
                rows.append(dict(test_set="A", run=run, method=run, case=f"c{i:02d}", metric=m, region=reg,
                                 value=v))
    return pd.DataFrame(rows)


@pytest.fixture
def make_results():
    """:func:`leaderboard_results`: ``make_results({"Y": (3.0, 0.3, 0.05)}, seed=4)``."""
    return leaderboard_results
