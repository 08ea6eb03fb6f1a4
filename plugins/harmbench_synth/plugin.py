"""Registers the synthetic cohort presets."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl


@hookimpl
def harmbench_datasets() -> list:
    return []
