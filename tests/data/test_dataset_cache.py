"""A cached build of a registered dataset is reused only if the same generator version built it."""

from __future__ import annotations

import json

from harmbench import registry
from harmbench.data.datasets import DatasetSpec
from harmbench.data.resolve import build_dataset


def _spec(generator: str, builds: list[str]) -> DatasetSpec:
    def build(out, seed):
        builds.append(generator)
        (out / "manifest.csv").write_text(f"built by {generator}\n")
        (out / "dataset.json").write_text(json.dumps({"name": "fake", "seed": seed, "generator": generator}))
        return out / "manifest.csv"

    return DatasetSpec(name="fake", description="", build=build, generator=generator)


def test_a_build_by_another_generator_version_is_rebuilt(tmp_path, monkeypatch):
    builds: list[str] = []
    out = tmp_path / "raw"
    monkeypatch.setattr(registry, "get_dataset", lambda name: _spec("gen 2", builds))
    build_dataset("fake", out=out)
    build_dataset("fake", out=out)                      # cached: not built again
    assert builds == ["gen 2"]
    monkeypatch.setattr(registry, "get_dataset", lambda name: _spec("gen 3", builds))
    manifest = build_dataset("fake", out=out)
    assert builds == ["gen 2", "gen 3"] and manifest.read_text() == "built by gen 3\n"
    build_dataset("fake", out=out)
    assert builds == ["gen 2", "gen 3"]


def test_synthetic_presets_declare_their_generator():
    from harmbench_synth.presets import GENERATOR

    spec = registry.get_dataset("synth-quick")
    assert spec.generator == GENERATOR and GENERATOR.startswith("harmbench_synth ")
