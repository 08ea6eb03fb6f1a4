"""The local executor's worker pool: same results as in-process, failures isolated, order kept."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from click.testing import CliRunner

from harmbench.cli.main import cli
from harmbench.errors import DataError
from harmbench.harness.executor import LocalExecutor, Placement, Task
from harmbench.harness.plan import EvalConfig
from harmbench.harness.runner import evaluate
from harmbench.parallel import default_workers
from harmbench.runspec import parse_specs


def _pid_and(x):
    import torch

    return os.getpid(), x, torch.get_num_threads()


def _fail(x):
    raise ValueError(f"bad {x}")


def _die(x):
    os._exit(3)


def test_pool_keeps_order_isolates_errors_and_runs_in_process_tasks_here():
    ex = LocalExecutor(workers=2)
    seen = []
    tasks = [Task(("a",), _pid_and, (1,)), Task(("b",), _fail, (2,)), Task(("c",), _pid_and, (3,), placement=Placement(in_process=True)),
             Task(("d",), _pid_and, (4,))]
    try:
        outs = ex.run(tasks, lambda o: seen.append(o.tag))
    finally:
        ex.close()
    assert [o.tag for o in outs] == [("a",), ("b",), ("c",), ("d",)]
    assert sorted(seen) == sorted(o.tag for o in outs)
    assert outs[1].error == "ValueError: bad 2"
    here = os.getpid()
    assert outs[2].result[0] == here and outs[2].result[1] == 3
    for o in (outs[0], outs[3]):
        pid, _, threads = o.result
        assert pid != here and threads == max(1, (os.cpu_count() or 1) // 2)


def test_a_dead_worker_fails_its_task_and_the_next_run_gets_a_new_pool():
    ex = LocalExecutor(workers=2)
    try:
        outs = ex.run([Task(("x",), _die, (0,)), Task(("y",), _die, (1,))], lambda o: None)
        assert all("worker process died" in o.error for o in outs)
        again = ex.run([Task(("z",), _pid_and, (5,)), Task(("w",), _pid_and, (6,))], lambda o: None)
        assert [o.result[1] for o in again] == [5, 6] and not any(o.error for o in again)
    finally:
        ex.close()


def test_evaluate_with_two_workers_equals_in_process(toy_manifest, tmp_path):
    metrics = ["similarity", "slice-similarity", "cnr", "lesion", "change-read"]

    def run(tag, workers):
        cfg = EvalConfig(dataset=str(toy_manifest), methods=parse_specs("identity,histmatch,nyul"),
                         out=tmp_path / f"lb-{tag}", work_dir=tmp_path / f"work-{tag}", metrics=metrics,
                         workers=workers)
        res = evaluate(cfg)
        assert not res.failures
        return pd.read_csv(tmp_path / f"lb-{tag}" / "results.csv")

    pd.testing.assert_frame_equal(run("one", 1), run("two", 2))


def test_workers_env_and_cli_option_are_validated(monkeypatch):
    monkeypatch.setenv("HARMBENCH_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("HARMBENCH_WORKERS", "zero")
    with pytest.raises(DataError, match="HARMBENCH_WORKERS must be a positive integer"):
        default_workers()
    res = CliRunner().invoke(cli, ["evaluate", "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output
