"""Plugin module of harmbench_combat."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl


@hookimpl
def harmbench_methods() -> list:
    return []
