"""harmbench: a plugin-based benchmark toolkit for longitudinal MRI harmonization.

The core (this package) knows about volumes, cohorts, the method contract, the plugin
registry, preprocessing, metrics, the evaluation harness and leaderboards. Every method,
including the built-in ones, is a plugin registered through the ``harmbench`` entry-point
group.
"""

from __future__ import annotations

__version__ = "0.1.0"

from harmbench.errors import (  # noqa: E402
    DataError,
    HarmbenchError,
    MethodDeclined,
    NotFittedError,
    PluginError,
)
from harmbench.method import BaseMethod, Capabilities  # noqa: E402
from harmbench.volume import Volume  # noqa: E402

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
