"""Issue #24: the work cache is keyed on the content on disk and heals when files go missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.io import load_volume, save_volume
from harmbench.runspec import parse_specs
from harmbench.testing.toy import write_toy_cohort
from harmbench.volume import Volume

METHODS = "identity,histmatch"
METRICS = ["similarity"]  # cheap, and registered on the pre-#24 main too
SHAPE = (16, 20, 18)


@pytest.fixture
def toy(tmp_path) -> Path:
    """A small phantom cohort of our own: these tests edit it."""
    return write_toy_cohort(tmp_path / "toy", n_train=2, n_val=1, n_test_a=2, n_test_b=1, shape=SHAPE)


def _cfg(manifest, tmp_path, work="work", out="lb", methods=METHODS, **kw) -> EvalConfig:
    return EvalConfig(dataset=str(manifest), methods=parse_specs(methods), metrics=METRICS, workers=1,
                      out=tmp_path / out if out else None, work_dir=tmp_path / work, **kw)


def _values(res) -> pd.Series:
    df = res.results
    return df.set_index(["run", "case", "metric", "region"])["value"].sort_index()


def _changed_cases(a: pd.Series, b: pd.Series) -> set[str]:
    differ = a.ne(b) & ~(a.isna() & b.isna())  # CNR is NaN for regions the phantom lacks
    return set(a[differ].index.get_level_values("case"))


def _test_case(manifest: Path) -> str:
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    return df[df.split == "test-A"]["case"].iloc[0]


def _no_transform(monkeypatch):
    import harmbench.harness.units as units

    def boom(*a, **k):
        raise AssertionError("recomputed a cached unit")

    monkeypatch.setattr(units.BaseMethod, "transform", boom)


def test_edited_manifest_gives_fresh_results(toy, tmp_path):
    first = _values(evaluate(_cfg(toy, tmp_path)))
    case = _test_case(toy)
    df = pd.read_csv(toy, dtype=str, keep_default_na=False)
    fu = (df.case == case) & (df.session == "FU")
    df.loc[fu, "image"] = df.loc[(df.case == case) & (df.session == "FU2"), "image"].iloc[0]
    df.to_csv(toy, index=False)
    again = _values(evaluate(_cfg(toy, tmp_path)))
    fresh = _values(evaluate(_cfg(toy, tmp_path, work="fresh-work", out="fresh-lb")))
    pd.testing.assert_series_equal(again, fresh)
    assert _changed_cases(again, first) == {case}


def test_rewritten_image_gives_fresh_results(toy, tmp_path):
    first = _values(evaluate(_cfg(toy, tmp_path)))
    case = _test_case(toy)
    path = toy.parent / f"{case}_FU.nii.gz"
    vol = load_volume(path)
    save_volume(Volume(np.clip(vol.data * 0.7 + 0.05, 0, 1).astype(np.float32), vol.affine), path)
    again = _values(evaluate(_cfg(toy, tmp_path)))
    fresh = _values(evaluate(_cfg(toy, tmp_path, work="fresh-work", out="fresh-lb")))
    pd.testing.assert_series_equal(again, fresh)
    assert _changed_cases(again, first) == {case}


def test_unchanged_inputs_reuse_the_hash_without_rehashing(toy, tmp_path, monkeypatch):
    import harmbench.harness.fingerprint as fingerprint

    first = evaluate(_cfg(toy, tmp_path))
    hashed: list[Path] = []
    real = fingerprint.file_hash
    monkeypatch.setattr(fingerprint, "file_hash", lambda p: hashed.append(Path(p)) or real(p))
    _no_transform(monkeypatch)
    again = evaluate(_cfg(toy, tmp_path))
    assert hashed == []
    assert again.runs["dataset"]["hash"] == first.runs["dataset"]["hash"]
    pd.testing.assert_series_equal(_values(again), _values(first))
    # a touched file (same bytes, new mtime) is rehashed once and keeps its hash and results
    (toy.parent / f"{_test_case(toy)}_BL.nii.gz").touch()
    touched = evaluate(_cfg(toy, tmp_path))
    assert len(hashed) == len(fingerprint.dataset_files(toy))
    assert touched.runs["dataset"]["hash"] == first.runs["dataset"]["hash"]


def test_deleted_harmonized_file_is_recomputed(toy, tmp_path):
    first = evaluate(_cfg(toy, tmp_path))
    files = first.runs["harmonized"][f"histmatch|{_test_case(toy)}"]
    harmonized = Path(files["harmonized"])
    assert (harmonized.parent / "record.json").exists()
    harmonized.unlink()
    again = evaluate(_cfg(toy, tmp_path))
    assert not again.failures
    assert harmonized.exists()
    pd.testing.assert_series_equal(_values(again), _values(first))


def test_copied_work_dir_reads_its_own_files(toy, tmp_path, monkeypatch):
    first = evaluate(_cfg(toy, tmp_path))
    shutil.copytree(tmp_path / "work", tmp_path / "copy")
    shutil.rmtree(tmp_path / "work")
    record = next((tmp_path / "copy" / "harmonized").rglob("record.json"))
    assert not Path(json.loads(record.read_text())["files"]["harmonized"]).is_absolute()
    _no_transform(monkeypatch)
    again = evaluate(_cfg(toy, tmp_path, work="copy"))
    assert not again.failures
    assert all(str(tmp_path / "copy") in f["harmonized"] for f in again.runs["harmonized"].values())
    pd.testing.assert_series_equal(_values(again), _values(first))


def test_default_out_names_the_dataset(toy, tmp_path, monkeypatch):
    # a second CSV in the same folder (one test case fewer) shares dataset.json but is another dataset
    df = pd.read_csv(toy, dtype=str, keep_default_na=False)
    other = toy.parent / "subset.csv"
    df[df.case != _test_case(toy)].to_csv(other, index=False)
    monkeypatch.chdir(tmp_path)
    one = evaluate(_cfg(toy, tmp_path, out=None, methods="identity", test_sets=("A",)))
    two = evaluate(_cfg(other, tmp_path, out=None, methods="identity", test_sets=("A",)))
    assert one.out.parent == two.out.parent == Path("leaderboards")
    assert one.out.name.startswith("toy-") and two.out.name.startswith("toy-") and one.out != two.out
    assert one.out.name == f"toy-{one.runs['dataset']['hash'][:8]}"


def test_default_work_ignores_harmbench_data(tmp_path, monkeypatch):
    from harmbench.harness.layout import WorkLayout, fingerprint_store
    from harmbench.harness.runner import default_out

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARMBENCH_DATA", str(tmp_path / "elsewhere" / "data"))
    cache = tmp_path / "home" / ".cache" / "harmbench" / "work"
    assert WorkLayout.resolve(None, "0123abcd").root == cache / "0123abcd"
    assert fingerprint_store(None) == cache / "fingerprints.json"
    assert default_out("synth-quick", "synth-quick", "0123abcd") == Path("leaderboards") / "synth-quick"


def test_missing_model_file_refits(tmp_path):
    from harmbench.harness.units import fit_unit

    manifest = write_toy_cohort(tmp_path / "toy", n_train=2, n_val=1, n_test_a=1, n_test_b=1, shape=SHAPE)
    model = tmp_path / "work" / "models" / "nyul"
    assert not fit_unit("nyul", {}, str(manifest), str(model), str(tmp_path / "train"))["cached"]
    assert fit_unit("nyul", {}, str(manifest), str(model), str(tmp_path / "train"))["cached"]
    (model / "arrays.npz").unlink()
    assert not fit_unit("nyul", {}, str(manifest), str(model), str(tmp_path / "train"))["cached"]
    assert (model / "arrays.npz").exists()


def test_partly_prepared_manifest_is_refused(toy, tmp_path):
    from harmbench.errors import DataError

    df = pd.read_csv(toy, dtype=str, keep_default_na=False)
    df.drop(columns=["scale_hi"]).to_csv(toy, index=False)
    with pytest.raises(DataError, match="scale_hi"):
        evaluate(_cfg(toy, tmp_path))
