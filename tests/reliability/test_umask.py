"""Outputs honour the umask instead of mkstemp's private 0600 (issue #24.8)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from harmbench.io import save_volume, write_json_atomic, write_text_atomic
from harmbench.volume import Volume

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=["022", "002", "077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_text_json_and_nifti_get_the_umasks_mode(tmp_path, umask):
    want = 0o666 & ~umask          # 0644, 0664, 0600: what `open(..., "w")` would give
    assert _mode(write_text_atomic(tmp_path / "results.csv", "a,b\n")) == want
    assert _mode(write_json_atomic(tmp_path / "sub" / "runs.json", {"a": 1})) == want
    vol = Volume(np.zeros((4, 5, 6), np.float32), np.eye(4))
    assert _mode(save_volume(vol, tmp_path / "fu_harmonized.nii.gz")) == want
    write_text_atomic(tmp_path / "results.csv", "a,b\n1,2\n")  # replacing keeps it readable
    assert _mode(tmp_path / "results.csv") == want


def test_apply_umask_opens_private_temp_dirs_and_files(tmp_path, umask):
    import tempfile

    from harmbench.io import apply_umask

    d = tempfile.mkdtemp(dir=tmp_path)          # 0700, like a model directory before its commit
    fd, f = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert _mode(apply_umask(d)) == 0o777 & ~umask
    assert _mode(apply_umask(f)) == 0o666 & ~umask
