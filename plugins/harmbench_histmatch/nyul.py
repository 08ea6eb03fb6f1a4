"""Nyúl–Udupa piecewise-linear histogram standardization learned on BL-scanner images."""

from __future__ import annotations

from typing import Any

import numpy as np

from harmbench.errors import ArtifactError, DataError
from harmbench.data.manifest import SESSIONS
from harmbench.method import BaseMethod, Capabilities
from harmbench.params import Interval, Options
from harmbench.volume import Volume


def landmarks(data: np.ndarray, percentiles: np.ndarray) -> np.ndarray:
    """Intensity landmarks: percentiles of the voxels brighter than the image mean.

    The above-mean foreground is the usual Nyúl choice: it drops background and dark CSF in
    every scanner alike, whereas a head mask can keep CSF in one contrast and lose it in another,
    which would misalign the landmarks.
    """
    m = data > data.mean()
    vals = data[m] if m.any() else data.ravel()
    marks = np.percentile(vals, percentiles).astype(np.float64)
    # the image minimum anchors the dark end (background maps to the standard background)
    return np.concatenate([[min(float(data.min()), marks[0])], marks])


class NyulStandardization(BaseMethod):
    """Nyúl & Udupa (IEEE TMI 2000) landmark standardization to the baseline scanner's scale.

    ``fit`` collects landmarks of every BL image in the training split — the image minimum plus
    ``n_landmarks`` evenly spaced percentiles from ``i_min`` to ``i_max`` of the above-mean
    foreground — and averages them into a standard scale. ``transform`` maps an image's own
    landmarks onto that scale with a piecewise-linear, monotone function (extrapolated linearly
    above the top landmark), so no reference is needed at transform time.

    Args:
        n_landmarks: number of landmarks including the two end points (>= 3).
        i_min, i_max: lower/upper percentiles of the end landmarks, ``0 <= i_min < i_max <= 100``.
        session: which training session defines the standard (``BL``: the baseline scanner).
    """

    name = "nyul"
    capabilities = Capabilities(needs_training=True, min_subjects_per_site=1)
    _parameter_constraints = {
        "n_landmarks": [Interval(int, 3, None)],
        "i_min": [Interval(float, 0, 100, closed="left")],
        "i_max": [Interval(float, 0, 100, closed="right")],
        "session": [Options(SESSIONS)],
    }

    def __init__(self, *, n_landmarks: int = 11, i_min: float = 1.0, i_max: float = 99.0,
                 session: str = "BL") -> None:
        self.n_landmarks = n_landmarks
        self.i_min = i_min
        self.i_max = i_max
        self.session = session

    def check_params(self) -> None:
        """The declared constraints, then ``i_min < i_max`` (a relation no single constraint states)."""
        super().check_params()
        if not self.i_min < self.i_max:
            raise DataError(f"nyul: need i_min < i_max; got i_min={self.i_min!r}, i_max={self.i_max!r}")

    def _fit(self, cohort: Any) -> None:
        pct = np.linspace(self.i_min, self.i_max, self.n_landmarks)
        marks = [landmarks(c.volume(self.session).data, pct) for c in cohort.train if c.has(self.session)]
        if not marks:
            raise DataError(f"nyul: no {self.session} images in the training split")
        self.percentiles_ = pct
        self.standard_scale_ = np.maximum.accumulate(np.mean(marks, axis=0))

    def _transform(self, fu: Volume, *, reference: Volume | None) -> Volume:
        src = landmarks(fu.data, self.percentiles_)
        src = src + np.arange(src.size) * 1e-9  # strictly increasing even for flat histograms
        dst = self.standard_scale_
        out = np.interp(fu.data, src, dst)
        # linear extrapolation above the top landmark (nothing lies below the minimum landmark)
        hi = fu.data > src[-1]
        slope_hi = (dst[-1] - dst[-2]) / max(src[-1] - src[-2], 1e-12)
        out[hi] = dst[-1] + (fu.data[hi] - src[-1]) * slope_hi
        return fu.with_data(out.astype(np.float32))

    def _get_state(self) -> dict[str, Any]:
        return {"arrays": {"percentiles": self.percentiles_, "standard_scale": self.standard_scale_}}

    def _set_state(self, state: dict[str, Any]) -> None:
        arrays = state.get("arrays", {})
        missing = sorted({"percentiles", "standard_scale"} - set(arrays))
        if missing:
            raise ArtifactError(f"nyul: saved model lacks arrays {missing}")
        pct = np.asarray(arrays["percentiles"], dtype=np.float64)
        scale = np.asarray(arrays["standard_scale"], dtype=np.float64)
        n = int(self.n_landmarks)
        # one landmark per percentile plus the image minimum (see ``landmarks``)
        if pct.shape != (n,) or scale.shape != (n + 1,):
            raise ArtifactError(f"nyul: saved percentiles/standard_scale have shapes "
                                f"{pct.shape}/{scale.shape}; "
                                f"expected ({n},)/({n + 1},) for n_landmarks={n}")
        if not (np.all(np.isfinite(pct)) and np.all(np.isfinite(scale))) or np.any(np.diff(scale) < 0):
            raise ArtifactError("nyul: saved standard scale is not a finite, non-decreasing landmark list")
        self.percentiles_ = pct
        self.standard_scale_ = scale
