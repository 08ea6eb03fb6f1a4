"""Registers harmbench's own metrics through the ``harmbench_metrics`` hook."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.metrics.base import Metric


def core_metrics() -> list[Metric]:
    """Fresh instances of every built-in metric, with their documented default parameters."""
    from harmbench.metrics.change_read import ChangeRead
    from harmbench.metrics.cnr import RegionalCnr
    from harmbench.metrics.input_change import InputChange
    from harmbench.metrics.lesion import LesionOverlap
    from harmbench.metrics.lpips_metric import LpipsMetric
    from harmbench.metrics.new_lesion import NewLesion
    from harmbench.metrics.scanner_features import ScannerFeatures
    from harmbench.metrics.similarity import SliceSimilarity, VolumeSimilarity
    from harmbench.metrics.tissue import TissueVolumes

    return [VolumeSimilarity(), SliceSimilarity(), LpipsMetric(), RegionalCnr(), LesionOverlap(),
            ChangeRead(), InputChange(), ScannerFeatures(), TissueVolumes(), NewLesion()]


@hookimpl
def harmbench_metrics() -> list[Metric]:
    return core_metrics()
