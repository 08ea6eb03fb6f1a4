"""Plugin module registering ``combat``."""

from __future__ import annotations

from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod

from harmbench_combat.combat import ComBatHarmonization


@hookimpl
def harmbench_methods() -> list[type[BaseMethod]]:
    return [ComBatHarmonization]
