"""Executors run lists of independent unit calls and report each outcome.

``LocalExecutor`` runs them in-process, in order. A distributed executor only needs the
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
    """Run tasks sequentially in this process."""

    name = "local"

    def run(self, tasks: list[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        outs = []
        for t in tasks:
            o = _call(t)
            on_done(o)
            outs.append(o)
        return outs

    def close(self) -> None:
        pass
