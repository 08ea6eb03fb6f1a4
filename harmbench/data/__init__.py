"""The data layer: manifests, cohorts, splits, validation, dataset resolution and BIDS import.

Modules: :mod:`~harmbench.data.manifest` (the manifest format), :mod:`~harmbench.data.cohort`
(cases and splits in memory), :mod:`~harmbench.data.splits`, :mod:`~harmbench.data.validate`
(``harmbench validate``), :mod:`~harmbench.data.resolve` (a dataset name or manifest to a
prepared manifest), :mod:`~harmbench.data.datasets` (the registered-dataset contract) and
:mod:`~harmbench.data.bids` (``harmbench datasets from-bids``). It imports no harness,
metric, leaderboard or CLI module.
"""
