"""Harmonize raw scans: the preprocessing a model was trained with, the method, and back to BL units.

``harmbench harmonize`` takes a raw follow-up (FU) and, optionally, the patient's raw baseline (BL)
on any grid and applies the steps the benchmark's data went through
(:mod:`harmbench.preprocess.steps`, with the settings recorded in the model's
``preprocessing.json``):

1. BL is resampled onto its isotropic grid at the model's voxel spacing (without a BL, the FU is).
2. FU is registered rigidly to that BL and resampled once onto its grid.
3. Both are scaled to [0, 1] (minimum to the 99.9th percentile of the BL head voxels, clipped).

The method then transforms the prepared FU, and the result is mapped into the BL scanner's
intensity units: with the reference's own ``(lo, hi)``, else with the BL scanner's typical
``(lo, hi)`` recorded at fit time, else (no model record) with the FU's own. It is returned on one
of three grids (``space``): ``bl``, the prepared BL grid the benchmark scores on (BL's field of view
at the model's spacing); ``bl-native``, the BL file's own voxel grid; ``fu``, the FU file's own
grid, through the inverse of the registration. Without a reference only ``fu`` exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harmbench.errors import DataError, MethodDeclined
from harmbench.io import load_volume, refuse_overwrite, require_writable_file, save_volume
from harmbench.method import BaseMethod
from harmbench.preprocess.grid import resample
from harmbench.preprocess.intensity import invert_scale
from harmbench.preprocess.settings import Preprocessing, PrepareSettings, read_preprocessing
from harmbench.preprocess.steps import align_to, scale_to_unit, target_grid
from harmbench.registry import build_run
from harmbench.volume import Volume

SPACES = ("bl", "bl-native", "fu")


@dataclass
class Harmonized:
    """One harmonized FU.

    Attributes:
        volume: the result in BL units (see ``units``) on the ``space`` grid.
        prepared: the method's output in the prepared [0, 1] scale on the prepared grid (what the
            benchmark scores).
        scale: the ``(lo, hi)`` that mapped ``prepared`` into output units.
        units: ``"reference"`` (the BL image's own scale), ``"bl-typical"`` (the model's record)
            or ``"fu"`` (nothing known about BL).
        space: grid of ``volume``.
        notes: one-line warnings for the user (unseen scanner, missing record ...).
    """

    volume: Volume
    prepared: Volume
    scale: tuple[float, float]
    units: str
    space: str
    notes: list[str] = field(default_factory=list)


def load_model(method: BaseMethod, model: Path | None) -> tuple[BaseMethod, Preprocessing | None, list[str]]:
    """``method`` fitted from ``model`` (when given), the model's preprocessing record and any notes."""
    if model is None:
        if method.capabilities.needs_training:
            raise DataError(f"{method.name} must be fitted first; "
                            f"pass --model MODEL_DIR from 'harmbench fit'")
        return method, None, []
    method = type(method).load(model)
    record = read_preprocessing(model)
    notes = [] if record is not None else [
        f"{model} has no preprocessing.json (saved outside 'harmbench fit'); preparing the inputs with "
        f"harmbench's defaults at the reference's own voxel size"]
    return method, record, notes


def check_scanner(method: BaseMethod, record: Preprocessing | None, scanner: str | None) -> str | None:
    """A warning when ``scanner`` (the FU's) was not in the model's training data, else None.

    Raises:
        MethodDeclined: the method cannot harmonize an unseen scanner (``needs_seen_scanner``).
    """
    if scanner is None or record is None or not record.scanners or scanner in record.seen_scanners():
        return None
    seen = ", ".join(sorted(record.seen_scanners()))
    if method.capabilities.needs_seen_scanner:
        raise MethodDeclined(f"{method.name} cannot harmonize FU scanner {scanner!r}: it was not in the "
                             f"model's training data (seen: {seen}); refit with images of that scanner")
    return (f"FU scanner {scanner!r} was not in {method.name}'s training data (seen: {seen}); "
            f"the result may not be in BL style")


def harmonize_volumes(method: BaseMethod, record: Preprocessing | None, fu: Volume, bl: Volume | None = None,
                      *, space: str | None = None) -> Harmonized:
    """Prepare raw ``fu`` (and ``bl``) as recorded, transform, and map into BL units on ``space``.

    Args:
        method: a fitted (or training-free) method.
        record: the model's preprocessing record; None applies the defaults (BL's own voxel size).
        fu: raw FU on its own grid; ``fu.meta["scanner"]`` reaches the method.
        bl: the same patient's raw BL on any grid, or None.
        space: ``bl`` (default with ``bl``), ``bl-native`` or ``fu`` (default without ``bl``).

    Raises:
        DataError: the method needs a reference and ``bl`` is None, ``space`` needs a BL, or
            registration fails.
    """
    space = space or ("bl" if bl is not None else "fu")
    if space not in SPACES:
        raise DataError(f"space must be one of {list(SPACES)}; got {space!r}")
    if bl is None and space != "fu":
        raise DataError(f"--space {space} needs --reference (the patient's BL image)")
    if method.capabilities.needs_reference and bl is None:
        raise DataError(f"{method.name} needs --reference (the patient's BL image)")
    settings = record.settings if record is not None else PrepareSettings()
    notes: list[str] = []
    transform = None
    if bl is not None:
        grid = target_grid(bl, settings)
        fu_data, transform = align_to(grid, fu, settings)
        bl_prep, lo, hi = scale_to_unit(grid.data, grid.head, settings)
        reference: Volume | None = Volume(bl_prep, grid.affine, bl.meta)
        scale, units = (lo, hi), "reference"
    else:
        grid = target_grid(fu, settings)
        fu_data, reference = grid.data, None
    fu_prep, fu_lo, fu_hi = scale_to_unit(fu_data, grid.head, settings)
    if bl is None:
        if record is not None and record.bl_scale is not None:
            scale, units = record.bl_scale, "bl-typical"
        else:
            scale, units = (fu_lo, fu_hi), "fu"
            if record is not None:
                notes.append("the model records no BL intensity scale; the output is in the FU's units")
    prepared_fu = Volume(fu_prep, grid.affine, fu.meta)
    out = method.transform(prepared_fu, reference=reference if method.capabilities.needs_reference else None)
    if space == "fu":  # back through the inverse registration (grid points -> FU points)
        inverse = transform.GetInverse() if transform is not None else None
        target: Volume = fu
        data = resample(out.data, grid.affine, fu.shape, fu.affine, transform=inverse)
    else:
        assert bl is not None
        target = bl
        data = out.data if space == "bl" else resample(out.data, grid.affine, bl.shape, bl.affine)
    affine = grid.affine if space == "bl" else target.affine
    codes = target.meta.get("xform_codes", (0, 0))
    volume = Volume(invert_scale(data, *scale), affine, {"xform_codes": codes})
    return Harmonized(volume, out, (float(scale[0]), float(scale[1])), units, space, notes)


def harmonize_file(method_spec: str, *, model: Path | None, input_path: Path, reference: Path | None,
                   output: Path, space: str | None = None, scanner: str | None = None) -> Harmonized:
    """Harmonize one raw FU file (``harmbench harmonize``) and write ``output`` atomically.

    Inputs are never overwritten; the output path is checked before any work, and the result
    (checked finite by ``BaseMethod.transform``) is written only when it is valid. See
    :func:`harmonize_volumes` for the steps and ``space``; ``scanner`` names the FU's scanner for
    the unseen-scanner check.
    """
    inputs = [input_path] + ([reference] if reference else [])
    refuse_overwrite(output, inputs)
    require_writable_file(output)
    method = build_run(method_spec)
    if method.capabilities.needs_reference and reference is None:
        raise DataError(f"{method.name} needs --reference (the patient's BL image)")
    method, record, notes = load_model(method, model)
    warning = check_scanner(method, record, scanner)
    fu = load_volume(input_path, **({"scanner": scanner} if scanner else {}))
    bl = load_volume(reference) if reference is not None else None
    result = harmonize_volumes(method, record, fu, bl, space=space)
    result.notes[:0] = notes + ([warning] if warning else [])
    save_volume(result.volume, output, protect=tuple(inputs))
    return result
