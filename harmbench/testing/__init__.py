"""Testing utilities for method authors: the conformance kit, a tiny phantom cohort and a toy scanner
pair with a known smooth intensity curve (:mod:`harmbench.testing.curve_pair`)."""

from __future__ import annotations

from harmbench.testing.conformance import CheckResult, check_method, run_checks
from harmbench.testing.toy import write_toy_cohort

__all__ = ["CheckResult", "check_method", "run_checks", "write_toy_cohort"]
