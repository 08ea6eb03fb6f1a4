"""Testing utilities for method authors: the conformance kit and a tiny phantom cohort."""

from __future__ import annotations

from harmbench.testing.conformance import CheckResult, check_method, run_checks
from harmbench.testing.toy import write_toy_cohort

__all__ = ["CheckResult", "check_method", "run_checks", "write_toy_cohort"]
