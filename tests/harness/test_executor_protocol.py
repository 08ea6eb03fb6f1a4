"""Every executor against the :class:`~harmbench.harness.executor.Executor` protocol.

Task 0 blocks until task 1 has finished, so wherever two tasks run at once task 0 completes
after task 1: the outcomes must still come back in task order.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harmbench.harness.executor import Executor, LocalExecutor, Placement, Task


def _wait_for(flag: str, timeout: float, value: int) -> int:
    deadline = time.monotonic() + timeout
    while not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if Path(flag).exists():
        time.sleep(1.0)  # finish well after task 1, so its completion is reported first on any scheduler
    return value * 10


def _sleep_then_flag(flag: str, value: int) -> int:
    time.sleep(0.2)
    Path(flag).write_text("done")
    return value * 10


def _fail(value: int) -> int:
    raise ValueError(f"bad {value}\nsecond line")


def _twice(value: int) -> int:
    return value * 2


def _local(workers: int):
    return LocalExecutor(workers)


def _dask(workers: int):
    pytest.importorskip("distributed")
    from harmbench.harness.dask_executor import DaskExecutor

    # two threads each: tasks 0 and 1 run at once even if the scheduler puts both on one worker
    return DaskExecutor(workers=workers, threads_per_worker=2, processes=False)


# (factory, workers, runs two tasks at once)
EXECUTORS = {
    "local-1": (_local, 1, False),
    "local-2": (_local, 2, True),
    "dask-2": (_dask, 2, True),
}


@pytest.mark.parametrize("kind", list(EXECUTORS))
def test_executor_keeps_task_order_isolates_errors_and_closes_twice(kind, tmp_path):
    factory, workers, concurrent = EXECUTORS[kind]
    flag = str(tmp_path / "task-1-done")
    # in series task 0 cannot wait for task 1, which runs after it
    tasks = [Task(("t", 0), _wait_for, (flag, 60.0 if concurrent else 0.0, 0)),
             Task(("t", 1), _sleep_then_flag, (flag, 1)),
             Task(("t", 2), _fail, (2,)),
             Task(("t", 3), _twice, (3,), placement=Placement(in_process=True))]
    ex = factory(workers)
    assert isinstance(ex, Executor)
    seen: list[tuple] = []
    try:
        outs = ex.run(tasks, lambda o: seen.append(o.tag))
        again = ex.run([Task(("u", i), _twice, (i,)) for i in range(3)], lambda o: None)
    finally:
        ex.close()
    ex.close()  # idempotent

    assert [o.tag for o in outs] == [t.tag for t in tasks]
    assert [o.result for o in outs if not o.error] == [0, 10, 6]
    assert [o.error for o in outs] == [None, None, "ValueError: bad 2 second line", None]
    assert "ValueError" in outs[2].result  # the traceback travels with the failure
    assert sorted(seen) == sorted(t.tag for t in tasks) and len(seen) == len(tasks)
    if concurrent:
        assert seen.index(("t", 1)) < seen.index(("t", 0)), seen  # completed out of task order
    else:
        assert seen == [t.tag for t in tasks]
    assert [o.result for o in again] == [0, 2, 4] and [o.tag for o in again] == [("u", 0), ("u", 1), ("u", 2)]

