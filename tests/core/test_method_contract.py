from __future__ import annotations

import numpy as np
import pytest

from harmbench import registry
from harmbench.data.cohort import Cohort
from harmbench.errors import ArtifactError, NotFittedError
from harmbench.testing import check_method


@pytest.mark.parametrize("name", ["identity", "histmatch", "nyul"])
def test_builtin_conformance(name, tmp_path, toy_manifest):
    results = check_method(registry.get_method(name), tmp_path, toy_manifest)
    assert len(results) == 12 and all(r.passed for r in results)


def test_get_params_clone_and_repr():
    cls = registry.get_method("nyul")
    m = cls(n_landmarks=7)
    assert m.get_params() == {"n_landmarks": 7, "i_min": 1.0, "i_max": 99.0, "session": "BL"}
    c = m.clone()
    assert c is not m and c.get_params() == m.get_params()
    assert repr(m) == "NyulStandardization(n_landmarks=7)"
    with pytest.raises(TypeError):
        cls(7)  # keyword-only


def test_not_fitted(toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    fu = cohort.split("test-A")[0].volume("FU")
    with pytest.raises(NotFittedError):
        registry.get_method("nyul")().transform(fu)
    with pytest.raises(NotFittedError):
        registry.get_method("nyul")().save("/nonexistent")


def test_artifact_checks_method_and_version(tmp_path, toy_manifest):
    cohort = Cohort.from_manifest(toy_manifest)
    nyul = registry.get_method("nyul")().fit(cohort)
    nyul.save(tmp_path / "m")
    with pytest.raises(ArtifactError, match="saved by method 'nyul'"):
        registry.get_method("histmatch").load(tmp_path / "m")
    meta = (tmp_path / "m" / "artifact.json").read_text().replace('"format_version": 1', '"format_version": 99')
    (tmp_path / "m" / "artifact.json").write_text(meta)
    with pytest.raises(ArtifactError, match="format version 99"):
        registry.get_method("nyul").load(tmp_path / "m")


def test_decline_reports_reason(toy_manifest):
    from harmbench.method import BaseMethod, Capabilities

    class NeedsMany(BaseMethod):
        name = "needs-many"
        capabilities = Capabilities(min_subjects_per_site=50)

        def __init__(self):
            pass

        def _transform(self, fu, *, reference):
            return fu

    reason = NeedsMany().decline(Cohort.from_manifest(toy_manifest))
    assert "needs >= 50 training subjects per scanner" in reason


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def _distorted_pair(seed=0):
    """BL phantom and FU = monotone (gamma + gain) distortion of BL plus noise."""
    from harmbench.testing.toy import _phantom, _render
    from harmbench.volume import Volume

    rng = np.random.default_rng(seed)
    lab, les, grid = _phantom((40, 48, 40), rng)
    bl = _render(lab, les, grid, 0, rng)
    fu = 0.9 * bl**1.8 + 0.05 * (bl > 0) + rng.normal(0, 0.01, bl.shape).astype(np.float32) * (bl > 0)
    aff = np.eye(4)
    return Volume(bl, aff), Volume(fu.astype(np.float32), aff)


def test_histmatch_undoes_monotone_distortion():
    bl, fu = _distorted_pair()
    m = registry.get_method("histmatch")()
    h = m.transform(fu, reference=bl)
    before, after = _psnr(bl.data, fu.data), _psnr(bl.data, h.data)
    # measured: 22.2 dB -> 42.9 dB over the volume (the air, 0 in both, is left alone)
    assert after - before > 6.0, (before, after)


def test_histmatch_leaves_air_alone_and_matches_the_head():
    from harmbench.masking import head_mask

    bl, fu = _distorted_pair()
    rng = np.random.default_rng(5)
    air_values = rng.uniform(0.0, 0.03, fu.shape).astype(np.float32)  # the FU's own dim, noisy air
    fu = fu.with_data(np.where(fu.data > 0, fu.data, air_values))
    head = head_mask(fu.data) | head_mask(bl.data)
    air = ~head
    assert air.sum() > 0.2 * air.size
    h = registry.get_method("histmatch")().transform(fu, reference=bl).data
    assert np.array_equal(h[air], fu.data[air])  # exactly the FU's air, not stretched onto BL's
    q = np.linspace(5, 95, 19)
    before = np.abs(np.percentile(fu.data[head], q) - np.percentile(bl.data[head], q)).max()
    after = np.abs(np.percentile(h[head], q) - np.percentile(bl.data[head], q)).max()
    # measured: 0.19 before, 6e-7 after
    assert before > 0.1 and after < 1e-3, (before, after)
    none = registry.get_method("histmatch")(mask="none").transform(fu, reference=bl).data
    assert not np.array_equal(none[air], fu.data[air])  # mask="none" maps every voxel, air included


def test_nyul_undoes_monotone_distortion(tmp_path):
    from harmbench.data.cohort import Case, SessionRef
    from harmbench.io import save_volume

    refs = []
    for seed in range(3):
        bl, _ = _distorted_pair(seed)
        p = save_volume(bl, tmp_path / f"bl{seed}.nii.gz")
        refs.append(Case(f"c{seed}", f"s{seed}", "train", {"BL": SessionRef("BL", "s", "v", p)}))
    cohort = Cohort("t", refs)
    m = registry.get_method("nyul")().fit(cohort)
    bl, fu = _distorted_pair(7)
    h = m.transform(fu)
    before, after = _psnr(bl.data, fu.data), _psnr(bl.data, h.data)
    assert after - before > 8.0, (before, after)
