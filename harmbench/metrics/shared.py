"""Work the metrics of one case share: each expensive part is computed once per case.

Every :class:`~harmbench.metrics.base.ScoringContext` carries a :class:`SharedWork`
(``ctx.shared``) with three stores:

* ``case``: what depends only on the case's BL side — the BL image, its label map and lesion
  mask and the kept slice range (the BL head mask and its box, the BL SSIM statistics, the BL LPIPS
  features, the BL lesion segmentation ...);
* ``session``: what also depends on the scored session's label map and lesion mask
  (``labels_fu``, ``lesion_fu``: FU for harmonized images and the original FU, FU2 for the
  same-scanner row), e.g. the analysis mask, the CNR backgrounds, BL's tissue classes in it;
* ``image``: what also depends on the scored image (e.g. the lesion segmentation pair that the
  ``lesion`` and ``change-read`` metrics both read). Fresh for every context.

The harness hands the same ``case`` store to every image of one case it scores in a process, and
the same ``session`` store to every image of one case and session
(:func:`harmbench.harness.units.score_unit`), so these parts are computed once per case, not once
per (run, case). A context built elsewhere gets private stores: its metrics still share work.

Values are computed by exactly the code that computed them before they were shared, so sharing
changes no number (``tests/metrics/test_shared_work.py``). Keys name the quantity and every
parameter it depends on. Arrays stored here are made read-only: a metric must copy before
changing one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class SharedWork:
    """The memo stores of one scoring context (module docstring).

    Args:
        case: a ``case`` store shared with other contexts of the same case (None: a new one).
        session: a ``session`` store shared with other contexts of the same case and scored
            session (None: a new one).
    """

    def __init__(self, case: dict[Hashable, Any] | None = None, session: dict[Hashable, Any] | None = None) -> None:
        self.case: dict[Hashable, Any] = {} if case is None else case
        self.session: dict[Hashable, Any] = {} if session is None else session
        self.image: dict[Hashable, Any] = {}

    def for_case(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per case (BL side only); ``key`` names it and its parameters."""
        return _memo(self.case, key, compute)

    def for_session(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per case and scored session (may read ``labels_fu``/``lesion_fu``)."""
        return _memo(self.session, key, compute)

    def for_image(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per scored image."""
        return _memo(self.image, key, compute)


def _memo(store: dict[Hashable, Any], key: Hashable, compute: Callable[[], T]) -> T:
    if key not in store:
        store[key] = _freeze(compute())
    return store[key]


def _freeze(value: Any) -> Any:
    """Mark the arrays in ``value`` (and in tuples/lists of it) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for v in value:
            _freeze(v)
    return value


def params_key(params: dict[str, Any]) -> str:
    """A hashable, order-independent key of a metric's parameters (its policy)."""
    return json.dumps(params, sort_keys=True, default=str)
