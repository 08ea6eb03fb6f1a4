"""Fixtures for the data tests: one synth-tiny build (and its preparation) per session."""

from __future__ import annotations

import pytest


def _build(name: str, tmp_path_factory):
    """Build the registered dataset ``name`` (default seed) with two worker processes."""
    from harmbench.registry import get_dataset

    spec = get_dataset(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARMBENCH_WORKERS", "2")
        return spec.build(tmp_path_factory.mktemp(name), spec.default_seed)


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory):
    """Manifest path of a synth-tiny build (seed 0) in a session temp folder, by two worker
    processes (the determinism test rebuilds cases in-process and compares bytes)."""
    return _build("synth-tiny", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_raw):
    """Prepared manifest of :func:`tiny_raw` (preset spacing)."""
    from harmbench.preprocess import prepare_manifest
    from harmbench.registry import get_dataset

    return prepare_manifest(tiny_raw, **get_dataset("synth-tiny").prepare)


@pytest.fixture(scope="session")
def tiny_bio_raw(tmp_path_factory):
    """Manifest path of a synth-tiny-bio build (seed 0): synth-tiny with inter-session biology."""
    return _build("synth-tiny-bio", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_bio_prepared(tiny_bio_raw):
    """Prepared manifest of :func:`tiny_bio_raw` (preset spacing; FU and FU2 rigidly registered to BL)."""
    from harmbench.preprocess import prepare_manifest
    from harmbench.registry import get_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARMBENCH_WORKERS", "2")
        return prepare_manifest(tiny_bio_raw, **get_dataset("synth-tiny-bio").prepare)
