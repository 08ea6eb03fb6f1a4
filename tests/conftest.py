"""Shared fixtures: tiny NIfTI volumes and the phantom cohort written to tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HARMBENCH_QUIET", "1")
# in-process by default: some tests register plugins in-process, which spawned workers cannot see;
# the worker pool has its own tests (tests/harness/test_local_pool.py)
os.environ.setdefault("HARMBENCH_WORKERS", "1")


@pytest.fixture(scope="session")
def toy_manifest(tmp_path_factory):
    from harmbench.testing.toy import write_toy_cohort

    return write_toy_cohort(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def affine():
    a = np.diag([1.5, 1.0, 2.0, 1.0])
    a[:3, 3] = [-20.0, 10.0, 5.0]
    return a


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """Isolated $HARMBENCH_DATA for tests that build datasets."""
    root = tmp_path / "data"
    monkeypatch.setenv("HARMBENCH_DATA", str(root))
    return root


@pytest.fixture
def few_threads():
    """torch on one thread for the test: tiny networks run faster without a thread pool."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
