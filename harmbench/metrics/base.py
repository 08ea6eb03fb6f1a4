"""The metric contract used by the harness and the ``harmbench_metrics`` hook."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from harmbench.metrics.shared import SharedWork

if TYPE_CHECKING:
    from harmbench.data.cohort import Case
    from harmbench.volume import Volume


@dataclass(frozen=True)
class MetricValue:
    """One number: ``metric`` name, optional ``region`` ('' if none) and ``value`` (NaN allowed)."""

    metric: str
    region: str
    value: float


@dataclass
class ScoringContext:
    """Everything a metric may look at for one case and one method run.

    All volumes are prepared ([0, 1] intensities, FU registered onto the BL grid).

    Attributes:
        case: the case being scored.
        bl: prepared baseline image.
        fu: the image being scored against BL: harmonized FU (or the original FU for identity,
            or FU2 for the same-scanner ceiling row).
        fu_original: prepared original FU (before harmonization).
        recon: BL->FU->BL reconstruction for methods with an inverse, else None.
        labels_bl / labels_fu: FreeSurfer label maps on the BL grid (None if unknown).
        lesion_bl / lesion_fu: ground-truth lesion masks on the BL grid (None if unknown).
        slice_range: kept axial slices ``(start, stop)`` along ``bl.axial_axis``.
        change: true relative target-lesion volume change (None if unknown).
        lesion_bl_mm3 / lesion_fu_mm3: true target-lesion volumes (mm³) of BL and of the scored
            session, when the manifest records them (``lesion_mm3``); else None and the
            instrument checks use the masks' voxel volumes.
        shared: work the metrics of this context share (:mod:`harmbench.metrics.shared`); not a
            constructor argument, so a copy (``dataclasses.replace``) starts with its own. The
            harness may attach a ``case`` store shared with other images of the same case.
    """

    case: Case
    bl: Volume
    fu: Volume
    fu_original: Volume
    recon: Volume | None = None
    labels_bl: np.ndarray | None = None
    labels_fu: np.ndarray | None = None
    lesion_bl: np.ndarray | None = None
    lesion_fu: np.ndarray | None = None
    slice_range: tuple[int, int] | None = None
    change: float | None = None
    lesion_bl_mm3: float | None = None
    lesion_fu_mm3: float | None = None
    shared: SharedWork = field(default_factory=SharedWork, init=False, repr=False, compare=False)


class Metric(abc.ABC):
    """Base class of metrics. Subclasses set ``name``, ``kind`` and implement ``compute``.

    ``kind`` groups metrics in leaderboards: ``similarity``, ``slice-similarity``, ``cnr``,
    ``lesion``, ``change`` or ``downstream``. ``higher_is_better`` drives bolding of the best value.

    One instance may emit several metric names (e.g. ``ssim`` and ``psnr``); ``emits`` maps each
    emitted name to its own ``higher_is_better`` (None = no direction, e.g. a signed change).
    When ``emits`` is empty the instance emits only ``name``.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    higher_is_better: ClassVar[bool | None] = None
    description: ClassVar[str] = ""
    emits: ClassVar[dict[str, bool | None]] = {}
    #: True if :meth:`calibrate` learns parameters from train/val cases with ground truth
    calibrates: ClassVar[bool] = False

    def directions(self) -> dict[str, bool | None]:
        """Emitted metric name -> higher_is_better (``{name: higher_is_better}`` by default)."""
        return dict(self.emits) if self.emits else {self.name: self.higher_is_better}

    def policy(self) -> dict[str, object]:
        """Parameters that define the metric's numbers (recorded with results for provenance).

        Defaults to the instance's public attributes (the keyword-only constructor parameters) and
        the emitted names, so that a metric that starts emitting more values invalidates cached
        scores.
        """
        params = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "emits": sorted(self.directions()),
                **params}

    def get_params(self) -> dict[str, object]:
        """The constructor parameters (public instance attributes)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def with_params(self, **params: object) -> Metric:
        """A new instance with ``params`` replacing this one's constructor parameters."""
        return type(self)(**{**self.get_params(), **params})

    def calibrate(self, contexts: Iterable[ScoringContext]) -> dict[str, object]:
        """Parameters learned from same-scanner train/val pairs with ground truth (``{}`` = none).

        Called by the harness only when ``calibrates`` is True, with one context per train/val
        case (``fu`` = the same-scanner FU2, ``change`` = its true lesion change). Never sees a
        test case. The returned parameters become part of the metric's policy.
        """
        return {}

    def available(self) -> str | None:
        """None if the metric can run here, else a one-line reason (e.g. missing weights)."""
        return None

    @abc.abstractmethod
    def compute(self, ctx: ScoringContext) -> list[MetricValue]:
        """The values of this metric for one case (see the class docstring for the names)."""
