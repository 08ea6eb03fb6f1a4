"""Run units of work on Dask (``pip install harmbench[dask]``).

Without a scheduler address a ``LocalCluster`` of worker *processes* is started on loopback;
with ``tcp://host:port`` an existing cluster (e.g. one built by dask-jobqueue on Slurm) is used.
Only paths, names and parameters travel through the scheduler; workers read inputs from and
write outputs to the shared work directory, atomically, so a retried task never sees a partial
file from a killed attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from harmbench.errors import HarmbenchError
from harmbench.harness.executor import Outcome, Task, _call

RETRIES = 2


def _require_distributed():
    try:
        import distributed
    except ImportError:
        raise HarmbenchError("the dask executor needs 'distributed': pip install 'harmbench[dask]'") from None
    return distributed


class DaskExecutor:
    """Submit tasks to a Dask cluster and collect outcomes as they complete."""

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1,
                 cluster: str = "local", cluster_config: dict | None = None) -> None:
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
            self._cluster = distributed.LocalCluster(
                n_workers=max(1, int(workers)), threads_per_worker=threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=40)
            self.client = distributed.Client(self._cluster)

    def run(self, tasks: list[Task], on_done: Callable[[Outcome], None]) -> list[Outcome]:
        from distributed import as_completed

        futures = {}
        for t in tasks:
            f = self.client.submit(_call, t, pure=False, retries=RETRIES, resources=t.resources,
                                   key=f"harmbench-{'-'.join(map(str, t.tag))}-{id(t)}")
            futures[f] = t
        outcomes = []
        for fut in as_completed(list(futures)):
            t = futures[fut]
            try:
                o = fut.result()
            except Exception as exc:  # worker died more than RETRIES times, or unpicklable result
                o = Outcome(t.tag, error=f"{type(exc).__name__}: {exc}"[:500])
            on_done(o)
            outcomes.append(o)
        return outcomes  # completion order; the harness sorts results itself

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _slurm_cluster(config: dict, jobs: int):
    """A ``dask_jobqueue.SLURMCluster`` from a config dict (keys are SLURMCluster arguments)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise HarmbenchError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    cluster = SLURMCluster(**config)
    cluster.scale(jobs=max(1, int(jobs)))
    return cluster
