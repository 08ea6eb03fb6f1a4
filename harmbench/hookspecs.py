"""pluggy hook specifications of the ``harmbench`` plugin system.

A plugin is any module or object with functions marked ``@harmbench.hookimpl`` named like
the specs below, registered through the ``harmbench`` entry-point group::

    [project.entry-points.harmbench]
    my_method = "my_package.plugin"

Each hook returns a list; the registry concatenates the lists of all plugins and refuses
duplicate names, naming both sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harmbench.data.datasets import DatasetSpec
    from harmbench.method import BaseMethod
    from harmbench.metrics.base import Metric

PROJECT = "harmbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def harmbench_methods() -> list[type[BaseMethod]]:
    """Harmonization methods this plugin provides.

    Returns:
        A list of :class:`harmbench.method.BaseMethod` subclasses. Each class's ``name`` is its
        registry name (lowercase, hyphenated, unique across all plugins).
    """


@hookspec
def harmbench_datasets() -> list[DatasetSpec]:
    """Datasets (built-in cohort recipes) this plugin provides.

    Returns:
        A list of :class:`harmbench.data.datasets.DatasetSpec`: a unique ``name``, a description and a
        ``build(out_dir, seed)`` callable that writes NIfTI files plus ``manifest.csv`` into
        ``out_dir`` and returns the manifest path.
    """


@hookspec
def harmbench_metrics() -> list[Metric]:
    """Metrics this plugin provides.

    Returns:
        A list of :class:`harmbench.metrics.base.Metric` instances. Each has a unique ``name``, a
        ``kind`` and a ``compute(ctx)`` returning ``(metric, region, value)`` rows for one case.
    """
