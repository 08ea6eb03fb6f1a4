"""Slice inference of the kit: axial order, padding, batching and reference slices."""

from __future__ import annotations

import numpy as np
import torch

from harmbench.training.inference import harmonize_volume
from harmbench.training.scaling import pad_stack
from harmbench.volume import Volume


def _vol(affine: np.ndarray) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.random((9, 13, 11)).astype(np.float32), affine)


def test_identity_translator_round_trips_exactly_any_orientation():
    lps_axial_first = np.array([[0, 0, -1, 0], [0, -1.0, 0, 0], [-2.0, 0, 0, 0], [0, 0, 0, 1]])
    for affine in (np.diag([2.0, 2.0, 2.0, 1.0]), lps_axial_first):
        v = _vol(affine)
        seen = []

        def ident(x: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
            seen.append(tuple(x.shape))
            return x.clone()

        out = harmonize_volume(v, ident, multiple=4, batch=4)
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

    def spy(x: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
        means.extend(float(((s + 1) / 2).mean()) for s in x[:, 0])
        return -x                             # invert: checks the output goes back to its own slice

    out = harmonize_volume(v, spy, multiple=2, batch=2)
    assert means[-1] > means[0]               # brightest slice came last (superior)
    assert np.allclose(out.data[:, :, 0], 0.0) and np.allclose(out.data[:, :, 1:], 1.0)


def test_pad_stack_centres_and_crops_back():
    s = np.arange(2 * 5 * 7, dtype=np.float32).reshape(2, 5, 7)
    p, (r, c) = pad_stack(s, 4, min_size=12)
    assert p.shape == (2, 12, 12)
    assert np.array_equal(p[:, r, c], s) and p[0, 0, 0] == -1.0


def test_reference_slices_travel_with_their_image_slices():
    """A reference-guided translator gets slice ``i`` of the reference with slice ``i`` of the image."""
    v = _vol(np.diag([2.0, 2.0, 2.0, 1.0]))
    ref = v.with_data(1.0 - v.data)

    def from_reference(x: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        assert r is not None and r.shape == x.shape
        return r

    out = harmonize_volume(v, from_reference, multiple=4, batch=3, reference=ref, square=16)
    assert np.abs(out.data - ref.data).max() < 1e-6


def test_square_padding_and_open_clip():
    s = np.full((2, 5, 7), 0.5, np.float32)
    p, (r, c) = pad_stack(s, 4, square=8)
    assert p.shape == (2, 8, 8) and np.array_equal(p[:, r, c], s)
    from harmbench.training.inference import harmonize_stack

    up = harmonize_stack(s, lambda x, _: x + 2.0, multiple=4, clip=(0.0, None))
    assert np.allclose(up, 1.5)                 # (0.5 -> 0 signed) + 2 -> 1.5 in [0, 1] units, unclipped above
