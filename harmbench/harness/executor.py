"""The executor contract, the task it runs, and the local executor.

An executor runs a list of independent :class:`Task` objects and reports each
:class:`Outcome`. Every executor (:class:`LocalExecutor` here,
:class:`~harmbench.harness.dask_executor.DaskExecutor`, or a third one) implements the
:class:`Executor` protocol and gives the same guarantees, so the stages never depend on which
one runs them; ``tests/harness/test_executor_protocol.py`` checks each implementation against it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: longest failure message kept in an :class:`Outcome` (one line in reports)
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Placement:
    """Hints on where a task should run. Hints, not orders: an executor may ignore any of them.

    Attributes:
        in_process: run in the calling process even when the executor has worker processes,
            because the task is cheap (its result is cached) or uses every core itself (a
            training). Read by :class:`LocalExecutor`; a cluster has no "calling process".
        resources: abstract resources a distributed worker must hold while the task runs,
            e.g. ``{"GPU": 1}`` for a deep fit. Read by the Dask executor; a local executor has
            no resource accounting.
    """

    in_process: bool = False
    resources: Mapping[str, float] | None = None


@dataclass
class Task:
    """A unit call ``fn(*args, **kwargs)``; ``tag`` identifies it in progress and failure reports.

    A task must be picklable (a top-level function and plain arguments) to leave the process.
    """

    tag: tuple
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    placement: Placement = field(default_factory=Placement)


@dataclass
class Outcome:
    """What became of one task: its ``result``, or an ``error`` (one line) and the traceback as ``result``."""

    tag: tuple
    result: Any = None
    error: str | None = None


def error_line(exc: BaseException) -> str:
    """``"Type: message"`` on one line, at most :data:`MAX_ERROR_CHARS` characters."""
    msg = " ".join(f"{type(exc).__name__}: {exc}".split())
    return msg[:MAX_ERROR_CHARS] or type(exc).__name__


def run_task(task: Task) -> Outcome:
    """Run ``task`` wherever this is called; an exception becomes the outcome's ``error``.

    This is the function every executor ships to its workers. ``KeyboardInterrupt`` (and other
    non-``Exception`` exits) propagate: stopping the run is not a task failure.
    """
    try:
        return Outcome(task.tag, task.fn(*task.args, **task.kwargs))
    except Exception as exc:  # failure isolation: one unit's error never stops the run
        return Outcome(task.tag, error=error_line(exc), result=traceback.format_exc(limit=3))


@runtime_checkable
class Executor(Protocol):
    """Runs independent tasks and reports each outcome. Every implementation guarantees:

    * ``run(tasks, on_done)`` returns one :class:`Outcome` per task **in task order** (the
      outcome of ``tasks[i]`` at index ``i``), whatever order the tasks completed in;
    * ``on_done(outcome)`` is called exactly once per task, in the calling thread, as that task
      finishes (completion order), so progress bars advance while the stage runs;
    * a task that raises becomes an outcome with ``error`` set (``"Type: message"``, one line)
      and never stops the other tasks; a task whose worker dies also becomes an ``error``;
    * the :class:`Placement` of a task is a hint the executor may ignore;
    * ``run`` may be called any number of times before ``close()``, which releases workers,
      pools or cluster connections; ``close()`` takes no arguments and is idempotent.
    """

    name: str

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Run tasks on this machine (implements :class:`Executor`).

    With ``workers`` == 1 every task runs in-process, one after another. With more, tasks whose
    placement is not ``in_process`` run in a pool of worker processes
    (:func:`harmbench.parallel.worker_pool`) with ``CPUs // workers`` torch threads each; the
    ``in_process`` ones run here first. A worker that dies (e.g. killed for memory) fails the
    tasks it leaves unfinished; the others complete. The pool starts on first use and is reused
    until :meth:`close`.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1; got {workers}")
        self.workers = int(workers)
        self._pool = None

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        remote = [i for i, t in enumerate(tasks) if not t.placement.in_process]
        if self.workers == 1 or len(remote) < 2:  # a pool for one task costs more than it saves
            remote = []
        outs: dict[int, Outcome] = {}
        skip = set(remote)
        for i, t in enumerate(tasks):
            if i not in skip:
                outs[i] = run_task(t)
                on_done(outs[i])
        if remote:
            outs.update(self._run_pool([(i, tasks[i]) for i in remote], on_done))
        return [outs[i] for i in range(len(tasks))]

    def _run_pool(self, jobs: list[tuple[int, Task]], on_done: Callable[[Outcome], None]) -> dict[int, Outcome]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from harmbench.parallel import worker_pool

        if self._pool is None:
            self._pool = worker_pool(self.workers, torch_threads=True)
        futures = {self._pool.submit(run_task, t): (i, t) for i, t in jobs}
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
            self._drop_pool()
            raise
        if broken:  # a broken pool accepts no more work: the next run starts a new one
            self._drop_pool()
        return outs

    def _drop_pool(self) -> None:
        """Shut the pool down without waiting: its unfinished work is abandoned."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Wait for the pool's workers to exit (no work is pending between runs); idempotent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
