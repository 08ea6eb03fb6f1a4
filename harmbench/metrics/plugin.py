"""Registers harmbench's own metrics through the ``harmbench_metrics`` hook."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl


@hookimpl
def harmbench_metrics() -> list:
    return []
