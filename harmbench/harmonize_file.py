"""Harmonize a single FU file (the ``harmbench harmonize`` command)."""

from __future__ import annotations

from pathlib import Path

from harmbench.errors import DataError
from harmbench.intensity import from_unit, minmax_params, to_unit
from harmbench.io import load_volume, refuse_overwrite, require_writable_file, save_volume
from harmbench.volume import require_same_grid


def harmonize_file(method_spec: str, *, model: Path | None, input_path: Path, reference: Path | None,
                   output: Path) -> Path:
    """Load, scale to [0, 1], harmonize, invert the scaling and write ``output`` atomically.

    The FU image must already be registered to (share the grid of) the reference when one is
    given. Inputs are never overwritten. The output path is checked before any work, and the
    harmonized image (checked finite and on FU's grid by ``BaseMethod.transform``) is written
    only when it is valid.
    """
    from harmbench.cli.base import load_run_method

    refuse_overwrite(output, [input_path] + ([reference] if reference else []))
    require_writable_file(output)
    method = load_run_method(method_spec)
    fu = load_volume(input_path)
    ref = load_volume(reference) if reference is not None else None
    if method.capabilities.needs_reference and ref is None:
        raise DataError(f"{method.name} needs --reference (the patient's BL image)")
    if ref is not None:
        require_same_grid(fu, ref)
    if model is not None:
        method = type(method).load(model)
    elif method.capabilities.needs_training:
        raise DataError(f"{method.name} must be fitted first; pass --model MODEL_DIR from 'harmbench fit'")
    fu_scale = minmax_params(fu.data, what=f"input image {input_path}")
    ref_unit = to_unit(ref, minmax_params(ref.data, what=f"reference image {reference}")) if ref is not None else None
    out = method.transform(to_unit(fu, fu_scale), reference=ref_unit)
    return save_volume(from_unit(out, fu_scale), output, protect=(input_path,) + ((reference,) if reference else ()))
