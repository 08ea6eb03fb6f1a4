"""Shared fixtures: a tiny prepared phantom cohort and tiny GAN configurations."""

from __future__ import annotations

import pytest

from harmbench.data.cohort import Cohort
from harmbench.testing.toy import write_toy_cohort

@pytest.fixture(autouse=True)
def _few_threads(few_threads):
    """Every test here runs torch on one thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def toy_manifest(tmp_path_factory):
    return write_toy_cohort(tmp_path_factory.mktemp("gan-toy"), n_train=2, n_val=1, n_test_a=1, n_test_b=0,
                            shape=(24, 28, 20), seed=3)


@pytest.fixture(scope="session")
def toy_cohort(toy_manifest):
    return Cohort.from_manifest(toy_manifest)
