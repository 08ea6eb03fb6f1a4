"""Exception hierarchy. The CLI turns every ``HarmbenchError`` into one line + exit code 2."""

from __future__ import annotations


class HarmbenchError(Exception):
    """Root of all errors harmbench raises on purpose (bad input, bad plugin, misuse)."""


class DataError(HarmbenchError, ValueError):
    """An input image, manifest or dataset is unusable (missing, malformed, mismatched)."""


class OptionError(HarmbenchError):
    """Command options contradict each other or select nothing (e.g. ``--methods ','``)."""


class PluginError(HarmbenchError):
    """A plugin is missing, duplicated, disabled or violates the method contract."""


class NotFittedError(HarmbenchError, AttributeError):
    """A method was asked to transform or save before ``fit`` (or ``load``)."""


class ArtifactError(HarmbenchError):
    """A saved model directory belongs to another method or format version, or is damaged."""


class MethodDeclined(HarmbenchError):
    """A method refuses a dataset for a stated reason (capability mismatch)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
