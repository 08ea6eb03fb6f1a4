"""Executors run lists of independent unit calls and report each outcome.

``LocalExecutor`` runs them on this machine: in-process with one worker, else in a pool of
worker processes (:mod:`harmbench.parallel`). A distributed executor only needs the
same ``run(tasks, on_done)`` method; tasks are picklable ``Task`` objects.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Task:
    """A unit call: ``fn(*args)``; ``tag`` identifies it in progress and failure reports."""

    tag: tuple
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: abstract resources a distributed worker must hold, e.g. ``{"GPU": 1}`` for a deep fit
    resources: dict[str, float] | None = None
    #: run in the calling process even when a local pool exists: the task is cheap (its result is
    #: cached) or uses every core itself (training)
    in_process: bool = False


@dataclass
class Outcome:
    tag: tuple
    result: Any = None
    error: str | None = None


def _call(task: Task) -> Outcome:
    try:
        return Outcome(task.tag, task.fn(*task.args, **task.kwargs))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # failure isolation: one unit's error never stops the run
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        return Outcome(task.tag, error=msg[:500] or type(exc).__name__, result=traceback.format_exc(limit=3))


class LocalExecutor:
    """Run tasks on this machine.

    With ``workers`` > 1, tasks not marked ``in_process`` run in a pool of worker processes
    (:func:`harmbench.parallel.worker_pool`) with ``CPUs // workers`` torch threads each; ``on_done`` is called as each finishes and the
    outcomes are returned in task order. A worker that dies (e.g. killed for memory) fails the
    tasks it leaves unfinished; the others complete. The pool starts on first use and is reused
    until :meth:`close`.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1; got {workers}")
        self.workers = int(workers)
        self._pool = None

    def run(self, tasks: list[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        outs: dict[int, Outcome] = {}
        remote = [i for i, t in enumerate(tasks) if not t.in_process]
        if self.workers == 1 or len(remote) < 2:
            remote = []
        skip = set(remote)
        for i, t in enumerate(tasks):
            if i not in skip:
                outs[i] = _call(t)
                on_done(outs[i])
        if remote:
            outs.update(self._run_pool([(i, tasks[i]) for i in remote], on_done))
        return [outs[i] for i in range(len(tasks))]

    def _run_pool(self, jobs: list[tuple[int, Task]], on_done) -> dict[int, Outcome]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from harmbench.parallel import worker_pool

        if self._pool is None:
            self._pool = worker_pool(self.workers, torch_threads=True)
        futures = {self._pool.submit(_call, t): (i, t) for i, t in jobs}
        outs: dict[int, Outcome] = {}
        broken = False
        try:
            for fut in as_completed(futures):
                i, t = futures[fut]
                try:
                    o = fut.result()
                except BrokenProcessPool:
                    broken = True
                    o = Outcome(t.tag, error="worker process died (killed, e.g. out of memory?)")
                on_done(o)
                outs[i] = o
        except BaseException:
            self.close(wait=False)
            raise
        if broken:  # a broken pool accepts no more work: the next stage starts a new one
            self.close(wait=False)
        return outs

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
