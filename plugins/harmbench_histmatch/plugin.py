"""Plugin module registering ``histmatch`` and ``nyul``."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod

from harmbench_histmatch.histmatch import HistogramMatching
from harmbench_histmatch.nyul import NyulStandardization


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [HistogramMatching, NyulStandardization]
