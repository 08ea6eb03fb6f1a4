"""The harmbench version, in a module of its own so that any module can stamp it without an import cycle."""

__version__ = "0.1.0"
