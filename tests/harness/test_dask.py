"""The Dask executor gives the local executor's results on a 2-worker LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.runspec import parse_specs

pytest.importorskip("distributed")

METRICS = ["similarity", "cnr", "lesion", "change-read"]


def _cfg(manifest, tmp_path, tag, methods, executor):
    return EvalConfig(dataset=str(manifest), methods=parse_specs(methods), out=tmp_path / f"lb-{tag}",
                      work_dir=tmp_path / f"work-{tag}", metrics=METRICS, executor=executor, workers=2)


def test_dask_matches_local_and_isolates_failures(toy_manifest, tmp_path):
    # a covariate column the manifest lacks passes planning and fails inside fit on the worker:
    # reported, the rest completes
    methods = "identity,histmatch,combat[covariates=no_such_column]"
    local = evaluate(_cfg(toy_manifest, tmp_path, "local", methods, "local"))
    dask = evaluate(_cfg(toy_manifest, tmp_path, "dask", methods, "dask"))
    a = pd.read_csv(tmp_path / "lb-local" / "results.csv")
    b = pd.read_csv(tmp_path / "lb-dask" / "results.csv")
    pd.testing.assert_frame_equal(a, b)
    assert {"identity", "histmatch"} <= set(b["run"])
    assert [f["stage"] for f in dask.failures] == ["fit"]
    assert "no_such_column" in dask.failures[0]["error"]
    assert local.failures[0]["error"] == dask.failures[0]["error"]
    md_local = (tmp_path / "lb-local" / "table3-volumewise-testA.md").read_text()
    assert md_local == (tmp_path / "lb-dask" / "table3-volumewise-testA.md").read_text()


def test_missing_scheduler_is_one_line_error(toy_manifest, tmp_path):
    from harmbench.errors import HarmbenchError

    cfg = _cfg(toy_manifest, tmp_path, "x", "identity", "dask")
    cfg.scheduler = "tcp://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(HarmbenchError, match="cannot reach Dask scheduler"):
        evaluate(cfg)
