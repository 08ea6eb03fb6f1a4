"""A learned toy method for harness tests: one gain, mean BL / mean FU intensity over training cases."""

from __future__ import annotations

import numpy as np

from harmbench.method import BaseMethod, Capabilities


def training_gain(cohort) -> float:
    """Mean BL over mean FU intensity of the training cases."""
    bl = np.mean([c.volume("BL").data.mean() for c in cohort.split("train")])
    fu = np.mean([c.volume("FU").data.mean() for c in cohort.split("train")])
    return float(bl / fu)


class GainMethod(BaseMethod):
    """Multiplies FU by ``gain_`` (set by a subclass's ``_fit``); the state is that one number."""

    capabilities = Capabilities(needs_training=True)

    def _transform(self, fu, *, reference):
        return fu.with_data(np.clip(fu.data * self.gain_, 0.0, 1.0))

    def _get_state(self):
        return {"json": {"gain": self.gain_}}

    def _set_state(self, state):
        self.gain_ = float(state["json"]["gain"])
