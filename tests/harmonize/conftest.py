"""One synth-tiny cohort, raw and prepared, with models fitted and test cases harmonized by the harness."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harmbench.data.cohort import Case, Cohort


@dataclass
class Bench:
    """What ``harmbench evaluate`` produced on synth-tiny, for comparison with ``harmbench harmonize``."""

    raw: Path                         # raw manifest
    prepared: Path                    # prepared manifest
    models: dict[str, Path]           # method -> model directory (fit_unit)
    harmonized: dict[str, dict]       # method -> harmonize_unit files of `case`
    case: Case                        # a test-A case of the prepared cohort
    raw_case: Case                    # the same case in the raw cohort


PARAMS = {"nyul": {}, "pix2pix": {"preset": "tiny", "device": "cpu"}, "combat": {}}


@pytest.fixture(scope="session")
def bench(tmp_path_factory) -> Bench:
    import torch

    from harmbench.harness.units import fit_unit, harmonize_unit
    from harmbench.data.resolve import prepared_manifest

    root = tmp_path_factory.mktemp("harmonize-bench")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HARMBENCH_DATA", str(root / "data"))
            prepared = prepared_manifest("synth-tiny")
        raw = Path(prepared).parent.parent / "raw" / "manifest.csv"
        cohort = Cohort.from_manifest(prepared)
        case = cohort.split("test-A")[0]
        raw_case = next(c for c in Cohort.from_manifest(raw).cases if c.case_id == case.case_id)
        models, harmonized = {}, {}
        for method, params in PARAMS.items():
            fit = fit_unit(method, params, str(prepared), str(root / "models" / method),
                           str(root / "train" / method))
            models[method] = Path(fit["model_dir"])
            harmonized[method] = harmonize_unit(method, params, fit["model_dir"], str(prepared), case.case_id,
                                                str(root / "harmonized" / method))["files"]
    finally:
        torch.set_num_threads(old)
    return Bench(Path(raw), Path(prepared), models, harmonized, case, raw_case)
