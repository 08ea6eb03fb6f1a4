"""Metric calibration on train/val same-scanner pairs: never a test case, thresholds in the policy."""

from __future__ import annotations

import pytest

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.harness.calibration import calibrate_metrics, calibration_cases
from harmbench.harness.layout import WorkLayout
from harmbench.harness.units import metric_instance
from harmbench.metrics.base import Metric


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from harmbench.testing.toy import write_toy_cohort

    m = write_toy_cohort(tmp_path_factory.mktemp("toy-cal"), n_train=4, n_val=1, n_test_a=2, n_test_b=1,
                         shape=(48, 56, 48), seed=5)
    return Cohort.from_manifest(m)


def test_calibration_uses_train_and_val_cases_only(cohort):
    cases = calibration_cases(cohort)
    assert {c.split for c in cases} == {"train", "val"}
    assert len(cases) == 5


def test_calibrated_change_read_is_cached_and_changes_the_policy(cohort, tmp_path):
    params = calibrate_metrics(["change-read", "similarity"], cohort, WorkLayout(tmp_path, "toy-hash"))
    assert set(params) == {"change-read"}                      # similarity does not calibrate
    p = params["change-read"]
    assert p["calibration"]["stable"] == 5 and p["calibration"]["changed"] == 0
    assert 0.05 <= p["size_threshold"] <= 0.5
    assert p["enhancement_threshold"] >= 0.1 and p["border_mm"] >= 0.5
    records = list((tmp_path / "calibration").glob("change-read-*.json"))
    assert len(records) == 1
    # a second call reads the record (same result, no recomputation needed)
    assert calibrate_metrics(["change-read"], cohort, WorkLayout(tmp_path, "toy-hash")) == params
    calibrated = metric_instance("change-read", p)
    assert calibrated.size_threshold == p["size_threshold"]
    assert calibrated.policy() != registry.get_metric("change-read").policy()


def test_default_metric_calibration_is_a_no_op():
    class Plain(Metric):
        name = "plain"

        def compute(self, ctx):
            return []

    assert Plain().calibrate([]) == {}
    assert Plain.calibrates is False
