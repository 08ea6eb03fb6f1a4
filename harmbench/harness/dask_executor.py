"""Run units of work on Dask (``pip install harmbench[dask]``).

Without a scheduler address a ``LocalCluster`` of worker *processes* is started on loopback;
with ``tcp://host:port`` an existing cluster (e.g. one built by dask-jobqueue on Slurm) is used.
Only paths, names and parameters travel through the scheduler; workers read inputs from and
write outputs to the shared work directory, atomically, so a retried task never sees a partial
file from a killed attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from harmbench.errors import HarmbenchError
from harmbench.harness.executor import Outcome, Task, error_line, run_task

RETRIES = 2


def _require_distributed():
    try:
        import distributed
    except ImportError:
        raise HarmbenchError("the dask executor needs 'distributed': pip install 'harmbench[dask]'") from None
    return distributed


class DaskExecutor:
    """Submit tasks to a Dask cluster (implements :class:`~harmbench.harness.executor.Executor`).

    Each task is retried up to :data:`RETRIES` times when its worker dies; a task that raises is
    not retried (:func:`~harmbench.harness.executor.run_task` turns the exception into an
    outcome). A placement's ``resources`` are passed to Dask; ``in_process`` is ignored.
    """

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1,
                 cluster: str = "local", cluster_config: dict | None = None, processes: bool = True) -> None:
        """Connect to (or start) a cluster.

        Args:
            scheduler: ``tcp://host:port`` of a running scheduler; None starts a ``LocalCluster``.
            workers: ``LocalCluster`` workers, or Slurm jobs with ``cluster="slurm"``.
            threads_per_worker: threads of each ``LocalCluster`` worker.
            cluster: ``"local"`` or ``"slurm"`` (dask-jobqueue, configured by ``cluster_config``).
            cluster_config: ``SLURMCluster`` keyword arguments.
            processes: ``LocalCluster`` workers are processes (True) or threads of this one.
        """
        distributed = _require_distributed()
        self._cluster = None
        if cluster == "slurm":
            self._cluster = _slurm_cluster(cluster_config or {}, workers)
            self.client = distributed.Client(self._cluster)
        elif scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout="8s")
            except OSError as exc:
                raise HarmbenchError(f"cannot reach Dask scheduler {scheduler}: {exc}") from None
        else:
            where = {"host": "127.0.0.1"} if processes else {}  # thread workers talk in-process, not over TCP
            self._cluster = distributed.LocalCluster(
                n_workers=max(1, int(workers)), threads_per_worker=threads_per_worker, processes=processes,
                dashboard_address=None, silence_logs=40, **where)
            self.client = distributed.Client(self._cluster)

    def run(self, tasks: Sequence[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:12]  # keys unique across runs: Dask would reuse a live future's result
        index = {}
        for i, t in enumerate(tasks):
            resources = dict(t.placement.resources) if t.placement.resources else None
            fut = self.client.submit(run_task, t, pure=False, retries=RETRIES, resources=resources,
                                     key=f"harmbench-{'-'.join(map(str, t.tag))}-{run_id}-{i}")
            index[fut] = i
        outs: dict[int, Outcome] = {}
        for fut in as_completed(list(index)):
            i = index[fut]
            try:
                o = fut.result()
            except Exception as exc:  # worker died more than RETRIES times, or an unpicklable result
                o = Outcome(tasks[i].tag, error=error_line(exc))
            on_done(o)
            outs[i] = o
        return [outs[i] for i in range(len(tasks))]

    def close(self) -> None:
        """Close the client and any cluster this executor started; idempotent."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _slurm_cluster(config: dict, jobs: int):
    """A ``dask_jobqueue.SLURMCluster`` from a config dict (keys are SLURMCluster arguments)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise HarmbenchError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    cluster = SLURMCluster(**config)
    cluster.scale(jobs=max(1, int(jobs)))
    return cluster
