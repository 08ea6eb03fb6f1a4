"""Whole-volume inference: true axial axis, padding, affine and shape."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

from harmbench.volume import Volume
from harmbench_gan.inference import (
    TapSumConv,
    compile_generator,
    inference_copy,
    should_compile,
)
from harmbench_gan.networks import ResnetGenerator, init_weights


def _vol(affine: np.ndarray) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.random((9, 13, 11)).astype(np.float32), affine)


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
