"""Calibration of metrics against ground truth on the train/val cases (never the test cases).

A metric that declares ``calibrates = True`` (e.g. the change read) gets one
:class:`~harmbench.metrics.base.ScoringContext` per train/val case that has a same-scanner FU2
and a known lesion change: ``bl`` = BL, ``fu`` = FU2, ``change`` = the true change (FU2 carries
the FU time point's lesion). Its :meth:`~harmbench.metrics.base.Metric.calibrate` returns
constructor parameters; they are cached per (metric policy, dataset hash) in the work
directory (:meth:`~harmbench.harness.layout.WorkLayout.calibration_record`) and shipped to the
scoring units, and the calibrated policy is what ``runs.json`` records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harmbench import registry
from harmbench.data.cohort import Case, Cohort
from harmbench.console import info
from harmbench.harness.cache import read_json, write_json
from harmbench.harness.layout import WorkLayout
from harmbench.metrics.base import ScoringContext

SPLITS = ("train", "val")


def calibration_cases(cohort: Cohort) -> list[Case]:
    """Train/val cases usable for calibration: BL and FU2 images, a BL lesion mask, a known change."""
    return [c for s in SPLITS for c in cohort.split(s)
            if c.has("BL") and c.has("FU2") and c.change is not None and c.ref("BL").lesion is not None]


def _contexts(cases: list[Case]) -> Iterator[ScoringContext]:
    for c in cases:
        bl, fu2 = c.volume("BL"), c.volume("FU2")
        yield ScoringContext(case=c, bl=bl, fu=fu2, fu_original=fu2, labels_bl=c.labels("BL"),
                             labels_fu=c.labels("FU2"), lesion_bl=c.lesion("BL"), lesion_fu=c.lesion("FU2"),
                             slice_range=c.slice_range, change=c.change,
                             lesion_bl_mm3=c.ref("BL").lesion_mm3, lesion_fu_mm3=c.ref("FU2").lesion_mm3)


def calibrate_metrics(names: list[str], cohort: Cohort, layout: WorkLayout) -> dict[str, dict[str, Any]]:
    """Calibrated constructor parameters per metric name (only metrics that calibrate and learned something).

    Args:
        names: metric registry names; those that do not calibrate are passed over.
        cohort: the dataset; only its train/val cases are read (:func:`calibration_cases`).
        layout: the work directory whose calibration records are read or written.
    """
    out: dict[str, dict[str, Any]] = {}
    cases = None
    for name in names:
        metric = registry.get_metric(name)
        if not getattr(metric, "calibrates", False):
            continue
        record = layout.calibration_record(name, metric.policy())
        rec = read_json(record)
        if rec is None:
            cases = calibration_cases(cohort) if cases is None else cases
            info(f"calibrating {name} on {len(cases)} train/val same-scanner pair(s) ...")
            rec = {"params": metric.calibrate(_contexts(cases)) if cases else {}}
            write_json(record, rec)
        if rec["params"]:
            out[name] = rec["params"]
    return out
