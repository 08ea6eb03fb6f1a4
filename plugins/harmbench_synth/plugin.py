"""Registers the synthetic cohort presets through the ``harmbench_datasets`` hook."""

from __future__ import annotations

import functools
from pathlib import Path

from harmbench.data.datasets import DatasetSpec
from harmbench.hookspecs import hookimpl
from harmbench_synth.presets import GENERATOR, PRESETS, Preset


def _build(preset: Preset, out_dir: Path, seed: int) -> Path:
    from harmbench_synth.cohort import build_cohort  # heavy imports only when building

    return build_cohort(preset, Path(out_dir), int(seed))


def spec(preset: Preset) -> DatasetSpec:
    """The :class:`DatasetSpec` of a preset."""
    return DatasetSpec(
        name=preset.name,
        description=preset.description,
        build=functools.partial(_build, preset),
        default_seed=0,
        generator=GENERATOR,
        prepare={"spacing": preset.prepare_spacing},
        info={"train": preset.n_train, "val": preset.n_val, "test-A": preset.n_test_a,
              "test-B": preset.n_test_b, "baseline_scanner": preset.bl.name,
              "follow_up_scanner": preset.fu.name, "prepared_spacing_mm": preset.prepare_spacing},
    )


@hookimpl
def harmbench_datasets() -> list[DatasetSpec]:
    return [spec(p) for p in PRESETS.values()]
