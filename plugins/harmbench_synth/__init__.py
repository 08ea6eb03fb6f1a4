"""Synthetic traveling-subject cohorts built from real anatomy shipped in PyPI wheels."""
