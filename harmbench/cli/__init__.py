"""The ``harmbench`` command line (click + rich)."""
