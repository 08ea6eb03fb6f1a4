"""harmbench: a plugin-based benchmark toolkit for longitudinal MRI harmonization.

The core (this package) knows about volumes, cohorts, the method contract, the plugin
registry, preprocessing, metrics, the evaluation harness and leaderboards. Every method,
including the built-in ones, is a plugin registered through the ``harmbench`` entry-point
group.
"""

from __future__ import annotations

from harmbench.version import __version__

from harmbench.errors import (
    DataError,
    HarmbenchError,
    MethodDeclined,
    NotFittedError,
    PluginError,
)
from harmbench.method import BaseMethod, Capabilities
from harmbench.volume import Volume

__all__ = [
    "__version__",
    "BaseMethod",
    "Capabilities",
    "DataError",
    "HarmbenchError",
    "MethodDeclined",
    "NotFittedError",
    "PluginError",
    "Volume",
]
