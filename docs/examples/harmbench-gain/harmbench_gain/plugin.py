"""A complete third-party method plugin: one global gain fitted on training pairs."""

from __future__ import annotations

from typing import Any

import numpy as np

from harmbench.hookspecs import hookimpl
from harmbench.masking import head_mask
from harmbench.method import BaseMethod, Capabilities
from harmbench.params import Interval
from harmbench.volume import Volume


class LinearGain(BaseMethod):
    """Map FU intensities to BL style with one least-squares gain ``a * x``.

    Fitted on the paired, registered BL/FU training images (head voxels only).

    Args:
        max_voxels: voxels sampled per training case (keeps fitting fast).
        seed: sampling seed.
    """

    name = "gain"
    capabilities = Capabilities(needs_training=True, needs_paired=True)
    _parameter_constraints = {
        "max_voxels": [Interval(int, 1, None)],
        "seed": [Interval(int, 0, None)],
    }

    def __init__(self, *, max_voxels: int = 20000, seed: int = 0) -> None:
        self.max_voxels = max_voxels
        self.seed = seed

    def _fit(self, cohort: Any) -> None:
        rng = np.random.default_rng(self.seed)
        xs, ys = [], []
        for case in cohort.train:
            bl, fu = case.volume("BL").data, case.volume("FU").data
            idx = np.flatnonzero(head_mask(bl))
            idx = rng.choice(idx, size=min(self.max_voxels, idx.size), replace=False)
            xs.append(fu.ravel()[idx])
            ys.append(bl.ravel()[idx])
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.gain_ = float(np.dot(x, y) / np.dot(x, x))  # zero stays zero (background)

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        return fu.with_data(self.gain_ * fu.data)

    def _get_state(self) -> dict[str, Any]:
        return {"json": {"gain": self.gain_}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.gain_ = float(state["json"]["gain"])


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [LinearGain]
