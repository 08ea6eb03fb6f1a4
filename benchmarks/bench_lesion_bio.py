"""Build and prepare synth-quick with inter-session biology, outside the registry, for bench_lesion.

Written for issue #21 before the built-in ``synth-quick-bio`` existed (session 24): with the
default ``Biology()`` it builds the same files as ``harmbench datasets build synth-quick-bio``
(only ``dataset.json``'s name differs); it stays for building that cohort with other biology
ranges (edit ``BIOLOGY``) outside the registry::

    python benchmarks/bench_lesion_bio.py            # -> ~/.cache/harmbench/probe/synth-quick-bio
    python benchmarks/bench_lesion.py --dataset ~/.cache/harmbench/probe/synth-quick-bio/prepared/manifest.csv

The second command writes ``benchmarks/results/bench_lesion-synth-quick-bio.json``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from harmbench.preprocess.pipeline import prepare_manifest
from harmbench_synth.biology import Biology
from harmbench_synth.cohort import build_cohort
from harmbench_synth.presets import PRESETS

ROOT = Path.home() / ".cache/harmbench/probe/synth-quick-bio"
#: the biology ranges of the probe cohort
BIOLOGY = Biology()


def main() -> None:
    preset = dataclasses.replace(PRESETS["synth-quick"], name="synth-quick-bio",
                                 description="synth-quick with inter-session biology (probe)", biology=BIOLOGY)
    t0 = time.perf_counter()
    raw = build_cohort(preset, ROOT / "raw", 0)
    print(f"built {raw} in {time.perf_counter() - t0:.0f} s", flush=True)
    prepared = prepare_manifest(raw, ROOT / "prepared")
    print(f"prepared {prepared} in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
