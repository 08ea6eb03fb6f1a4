"""Every method output is checked before it is written or scored (issue #24.2).

``BaseMethod.transform`` / ``inverse_transform`` refuse an output that is not a Volume, has
another shape or grid, or holds NaN/Inf voxels, with a one-line ``DataError`` naming the method.
The CLI turns that into exit 2; ``evaluate`` records it as that unit's failure and carries on.
Also covers :func:`harmbench.io.require_writable_dir` (checked before long work starts).
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench import registry
from harmbench.cli.main import cli
from harmbench.data.cohort import Cohort
from harmbench.errors import DataError
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.hookspecs import hookimpl
from harmbench.method import BaseMethod, Capabilities
from harmbench.runspec import parse_specs
from harmbench.volume import Volume

#: the case whose output ``nan-one`` spoils (set by the evaluate test)
SPOILED: dict[str, str] = {}


class AllNaN(BaseMethod):
    """Returns an all-NaN image, like a model whose weights hold NaN."""

    name = "all-nan"
    capabilities = Capabilities(needs_training=False, has_inverse=True)

    def __init__(self) -> None:
        pass

    def _transform(self, fu, *, reference):
        return fu.with_data(np.full(fu.shape, np.nan, np.float32))

    def _inverse_transform(self, bl):
        return bl.with_data(np.where(bl.data > 0.5, np.inf, bl.data))


class NaNOne(BaseMethod):
    """Harmonizes (identity) every case except ``SPOILED["case"]``, which gets one NaN voxel."""

    name = "nan-one"
    capabilities = Capabilities(needs_training=False)

    def __init__(self) -> None:
        pass

    def _transform(self, fu, *, reference):
        out = fu.data.copy()
        if fu.meta.get("case") == SPOILED.get("case"):
            out[0, 0, 0] = np.nan
        return fu.with_data(out)


class Misshapen(BaseMethod):
    """Returns, by ``kind``, another shape, another grid or not a Volume at all."""

    name = "misshapen"
    capabilities = Capabilities(needs_training=False)

    def __init__(self, *, kind: str = "shape") -> None:
        self.kind = kind

    def _transform(self, fu, *, reference):
        if self.kind == "shape":
            return Volume(fu.data[:-1], fu.affine)
        if self.kind == "grid":
            moved = fu.affine.copy()
            moved[0, 3] += 5.0
            return Volume(fu.data.copy(), moved)
        return fu.data.copy()


class _Plugin:
    @hookimpl
    def harmbench_methods(self):
        return [AllNaN, NaNOne, Misshapen]


@pytest.fixture
def bad_methods():
    registry.register_plugin(_Plugin(), "test-bad-outputs")
    yield
    registry.unregister_plugin("test-bad-outputs")


@pytest.fixture
def fu(affine):
    rng = np.random.default_rng(0)
    return Volume(rng.uniform(0, 1, (6, 7, 8)).astype(np.float32), affine, {"case": "c1"})


def test_nan_output_is_refused_with_counts(fu):
    with pytest.raises(DataError, match=r"^all-nan produced 336 non-finite voxels of 336$"):
        AllNaN().transform(fu)


def test_nonfinite_inverse_output_is_refused(fu):
    with pytest.raises(DataError, match=r"all-nan produced \d+ non-finite voxels of 336 \(inverse"):
        AllNaN().inverse_transform(fu)


@pytest.mark.parametrize("kind,needle", [("shape", "shape"), ("grid", "grid"), ("array", "Volume")])
def test_output_of_wrong_shape_grid_or_type_is_refused(kind, needle, fu):
    with pytest.raises(DataError, match=needle) as exc:
        Misshapen(kind=kind).transform(fu)
    assert "misshapen" in str(exc.value) and "\n" not in str(exc.value)


def test_good_output_passes_unchanged(fu):
    out = NaNOne().transform(fu)
    np.testing.assert_array_equal(out.data, fu.data)
    np.testing.assert_allclose(out.affine, fu.affine)


def test_harmonize_cli_refuses_nan_output(bad_methods, tmp_path, affine):
    src = tmp_path / "fu.nii.gz"
    img = np.random.default_rng(1).uniform(0, 100, (6, 7, 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(img, affine), src)
    out = tmp_path / "out.nii.gz"
    res = CliRunner().invoke(cli, ["harmonize", "all-nan", "--input", str(src), "--output", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "non-finite" in lines[0], res.output
    assert not out.exists()


def test_evaluate_records_bad_output_as_that_units_failure(bad_methods, toy_manifest, tmp_path):
    cases = [c.case_id for c in Cohort.from_manifest(toy_manifest).split("test-A")]
    assert len(cases) >= 2
    SPOILED["case"] = cases[0]
    try:
        res = evaluate(EvalConfig(dataset=str(toy_manifest), methods=parse_specs("identity,nan-one"),
                                  test_sets=("A",), out=tmp_path / "lb", work_dir=tmp_path / "work",
                                  metrics=["similarity"]))
    finally:
        SPOILED.clear()
    assert len(res.failures) == 1, res.failures
    f = res.failures[0]
    assert f["stage"] == "harmonize" and cases[0] in f["tag"] and "non-finite" in f["error"]
    df = pd.read_csv(tmp_path / "lb" / "results.csv", dtype={"case": str, "region": str})
    assert set(df[df.run == "nan-one"]["case"]) == set(cases[1:])  # the other units completed
    assert set(df[df.run == "identity"]["case"]) == set(cases)
    assert np.isfinite(df["value"].dropna()).all()


def test_require_writable_dir(tmp_path):
    from harmbench.io import require_writable_dir

    require_writable_dir(tmp_path)
    require_writable_dir(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # nothing is created
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        require_writable_dir(tmp_path / "afile")
    with pytest.raises(DataError, match="is a file"):
        require_writable_dir(tmp_path / "afile" / "out")


def test_require_writable_dir_read_only(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions, so a read-only folder is writable for root")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    from harmbench.io import require_writable_dir

    try:
        with pytest.raises(DataError, match="not writable"):
            require_writable_dir(ro / "lb")
    finally:
        ro.chmod(0o755)
