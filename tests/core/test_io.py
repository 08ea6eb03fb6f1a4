from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from harmbench.errors import DataError
from harmbench.io import atomic_path, load_volume, refuse_overwrite, save_volume
from harmbench.volume import Volume


def test_roundtrip_keeps_affine_and_values(tmp_path, affine):
    rng = np.random.default_rng(0)
    data = rng.normal(100, 30, (7, 8, 9)).astype(np.float32)
    p = save_volume(Volume(data, affine), tmp_path / "a.nii.gz")
    back = load_volume(p)
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_allclose(back.affine, affine, atol=1e-6)
    assert back.spacing == pytest.approx((1.5, 1.0, 2.0))
    assert back.orientation == ("R", "A", "S")
    assert back.axial_axis == 2


def test_axial_axis_follows_affine():
    # array axis 0 runs superior-inferior here
    aff = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], float)
    assert Volume(np.zeros((4, 5, 6)), aff).axial_axis == 0


def test_atomic_write_leaves_no_partial_file(tmp_path):
    dest = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash mid-write")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_on_error(tmp_path, affine):
    dest = tmp_path / "out.nii.gz"
    save_volume(Volume(np.ones((3, 3, 3)), affine), dest)
    before = dest.read_bytes()

    with pytest.raises(KeyboardInterrupt):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"junk")
            raise KeyboardInterrupt
    assert dest.read_bytes() == before


def test_refuse_overwrite_input(tmp_path):
    p = tmp_path / "x.nii.gz"
    with pytest.raises(DataError, match="also an input"):
        refuse_overwrite(p, [tmp_path / "." / "x.nii.gz"])


def test_bad_inputs(tmp_path, affine):
    with pytest.raises(DataError, match="not found"):
        load_volume(tmp_path / "missing.nii.gz")
    (tmp_path / "t.nii.gz").write_text("hello")
    with pytest.raises(DataError, match="not a readable NIfTI"):
        load_volume(tmp_path / "t.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), affine), tmp_path / "4d.nii.gz")
    with pytest.raises(DataError, match="3-D"):
        load_volume(tmp_path / "4d.nii.gz")
    d = np.ones((3, 3, 3), np.float32)
    d[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(d, affine), tmp_path / "nan.nii.gz")
    with pytest.raises(DataError, match="1 NaN/Inf"):
        load_volume(tmp_path / "nan.nii.gz")


def test_singleton_4d_is_squeezed(tmp_path, affine):
    nib.save(nib.Nifti1Image(np.ones((3, 4, 5, 1), np.float32), affine), tmp_path / "s.nii.gz")
    assert load_volume(tmp_path / "s.nii.gz").shape == (3, 4, 5)
