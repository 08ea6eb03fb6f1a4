"""Whole-volume inference: true axial axis, padding, affine and shape."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

from harmbench.volume import Volume
from harmbench_gan.data import pad_stack
from harmbench_gan.inference import (
    TapSumConv,
    compile_generator,
    harmonize_volume,
    inference_copy,
    should_compile,
)
from harmbench_gan.networks import ResnetGenerator, init_weights


def _vol(affine: np.ndarray) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.random((9, 13, 11)).astype(np.float32), affine)


def test_identity_translator_round_trips_exactly_any_orientation():
    lps_axial_first = np.array([[0, 0, -1, 0], [0, -1.0, 0, 0], [-2.0, 0, 0, 0], [0, 0, 0, 1]])
    for affine in (np.diag([2.0, 2.0, 2.0, 1.0]), lps_axial_first):
        v = _vol(affine)
        seen = []

        def ident(x: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(x.shape))
            return x.clone()

        out = harmonize_volume(v, ident, stride=4, batch=4)
        assert out.shape == v.shape and np.array_equal(out.affine, v.affine)
        assert np.abs(out.data - v.data).max() < 1e-6
        n_ax = v.shape[v.axial_axis]
        assert sum(s[0] for s in seen) == n_ax            # every axial slice, once
        assert all(s[2] % 4 == 0 and s[3] % 4 == 0 for s in seen)


def test_translator_sees_axial_slices_in_world_order():
    # axial axis stored superior -> inferior (negative z step): slice k of the stack is voxel n-1-k
    aff = np.diag([2.0, 2.0, -2.0, 1.0])
    data = np.zeros((6, 8, 5), np.float32)
    data[:, :, 0] = 1.0                       # most superior slice
    v = Volume(data, aff)
    means = []

    def spy(x: torch.Tensor) -> torch.Tensor:
        means.extend(float(((s + 1) / 2).mean()) for s in x[:, 0])
        return -x                             # invert: checks the output goes back to its own slice

    out = harmonize_volume(v, spy, stride=2, batch=2)
    assert means[-1] > means[0]               # brightest slice came last (superior)
    assert np.allclose(out.data[:, :, 0], 0.0) and np.allclose(out.data[:, :, 1:], 1.0)


def test_pad_stack_centres_and_crops_back():
    s = np.arange(2 * 5 * 7, dtype=np.float32).reshape(2, 5, 7)
    p, (r, c) = pad_stack(s, 4, min_size=12)
    assert p.shape == (2, 12, 12)
    assert np.array_equal(p[:, r, c], s) and p[0, 0, 0] == -1.0


def test_compile_rule_only_for_large_cpu_workloads():
    small = ResnetGenerator(ngf=4, n_blocks=1)
    paper = ResnetGenerator(ngf=64, n_blocks=9)
    assert not should_compile(small, 96 * 112 * 96, "cpu")               # synth-quick, quick preset
    assert not should_compile(paper, 256**3, "cuda:0")                   # GPU: batched + AMP instead
    if shutil.which("c++") or shutil.which("g++"):
        assert should_compile(paper, 256**3, "cpu")                      # paper net, 256³ volume


def test_compiled_generator_matches_eager_or_falls_back():
    net = init_weights(ResnetGenerator(ngf=4, n_blocks=1, residual=False), seed=0).eval()
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    run = compile_generator(net)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                                  # fallback warning without a compiler
        eager, fast = net(x), run(x)
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_tap_sum_conv_equals_single_output_conv(channels_last):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 1, 7)
    x = torch.randn(2, 6, 19, 23)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert TapSumConv.applies_to(conv) and not TapSumConv.applies_to(torch.nn.Conv2d(6, 2, 7))
    assert not TapSumConv.applies_to(torch.nn.Conv2d(6, 1, 3, padding=1))
    with torch.inference_mode():
        torch.testing.assert_close(TapSumConv(conv)(x), conv(x), atol=1e-5, rtol=1e-5)


def test_inference_copy_swaps_the_last_conv_and_keeps_the_output():
    net = init_weights(ResnetGenerator(ngf=4, n_blocks=1, residual=False), seed=0).eval()
    fast = inference_copy(net)
    assert sum(isinstance(m, TapSumConv) for m in fast.modules()) == 1
    assert not any(isinstance(m, TapSumConv) for m in net.modules())          # the original is untouched
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), net(x),
                                   atol=1e-5, rtol=1e-5)
