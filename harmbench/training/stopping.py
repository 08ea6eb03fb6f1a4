"""When a fit stops and whether its chosen model did anything: patience and the identity check (no torch).

Both rules read only the history rows (and, for the identity check, per-slice scores), so a
resumed fit takes exactly the decisions an uninterrupted one takes.

* :class:`Patience` — convergence-based stopping: stop once the validation curve, smoothed by a
  trailing mean, has not improved by ``min_delta`` for ``patience`` validation points.
* :func:`identity_check` — the selected model's gain over the identity map (the FU itself) on the
  validation slices, with the standard error of the per-slice paired differences; a gain within
  noise of zero means the fit did not move off the identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harmbench.errors import DataError


@dataclass(frozen=True)
class Patience:
    """Stop when the smoothed validation metric stops improving.

    The curve is the trailing mean of the last ``window`` values of ``metric`` (the history's
    validation points, oldest first); ``mode`` says whether higher (``max``) or lower (``min``)
    is better. A point *improves* when its smoothed value beats the best earlier smoothed value
    by more than ``min_delta``. The fit stops after ``patience`` points in a row without an
    improvement, but never before ``min_iterations``.

    Attributes:
        metric: history key (``val_psnr``, ``val_ssim``, ...).
        patience: validation points without improvement before stopping (>= 1).
        min_delta: improvement needed, in the metric's units (>= 0).
        window: points in the trailing mean (1: the raw curve).
        mode: ``max`` or ``min``.
        min_iterations: no stop before this many iterations.
    """

    metric: str = "val_psnr"
    patience: int = 3
    min_delta: float = 0.0
    window: int = 2
    mode: str = "max"
    min_iterations: int = 0

    def __post_init__(self) -> None:
        if self.patience < 1 or self.window < 1 or self.min_delta < 0 or self.mode not in ("max", "min"):
            raise DataError(f"bad patience rule {self!r}: need patience >= 1, window >= 1, min_delta >= 0, "
                            f"mode 'max' or 'min'")

    def smoothed(self, rows: Sequence[dict[str, Any]]) -> list[float]:
        """The trailing-mean curve over the rows that carry ``metric`` (sign-flipped for ``min``)."""
        sign = -1.0 if self.mode == "min" else 1.0
        vals = [sign * float(r[self.metric]) for r in rows if self.metric in r]
        return [sum(vals[max(0, i - self.window + 1):i + 1]) / len(vals[max(0, i - self.window + 1):i + 1])
                for i in range(len(vals))]

    def since_best(self, rows: Sequence[dict[str, Any]]) -> int:
        """Validation points since the last improvement of the smoothed curve (0: the last one improved)."""
        curve = self.smoothed(rows)
        best, best_i = -math.inf, -1
        for i, v in enumerate(curve):
            if v > best + self.min_delta or best_i < 0:
                best, best_i = v, i
        return len(curve) - 1 - best_i if curve else 0

    def should_stop(self, rows: Sequence[dict[str, Any]]) -> bool:
        """True when the last ``patience`` points brought no improvement (and enough iterations ran)."""
        if not rows or int(rows[-1].get("iteration", 0)) < self.min_iterations:
            return False
        return self.since_best(rows) >= self.patience


@dataclass(frozen=True)
class IdentityCheck:
    """The selected model against the identity map on the validation slices.

    Attributes:
        metric: the compared metric (the selection metric).
        gain: mean over slices of (model score - identity score); positive is better for ``max``.
        se: standard error of that mean (per-slice paired differences).
        margin: the smallest gain that counts as moving off the identity: ``max(z·se, floor)``.
        near_identity: ``gain <= margin``.
    """

    metric: str
    gain: float
    se: float
    margin: float
    near_identity: bool


def identity_check(model_scores: Sequence[float], identity_scores: Sequence[float], *, metric: str,
                   mode: str = "max", z: float = 2.0, floor: float = 0.0) -> IdentityCheck:
    """Compare per-slice scores of the chosen model with the identity's, paired slice by slice.

    Args:
        model_scores, identity_scores: one score per validation slice, same order.
        metric: name recorded in the result.
        mode: ``max`` (higher is better) or ``min``.
        z: noise multiple of the standard error.
        floor: smallest absolute gain that counts, in the metric's units (guards against a
            model that changed every slice by a negligible, consistent amount).
    """
    if len(model_scores) != len(identity_scores) or not model_scores:
        raise DataError(f"identity check needs paired per-slice scores; got {len(model_scores)} "
                        f"and {len(identity_scores)}")
    sign = -1.0 if mode == "min" else 1.0
    d = [sign * (float(a) - float(b)) for a, b in zip(model_scores, identity_scores)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    se = sd / math.sqrt(n)
    margin = max(z * se, floor)
    return IdentityCheck(metric=metric, gain=mean, se=se, margin=margin, near_identity=mean <= margin)
