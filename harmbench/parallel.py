"""Worker processes on one machine: how many, and a pool whose workers share the cores fairly.

Most of a benchmark outside training is single-threaded Python, NumPy, SciPy, zlib and
SimpleITK registration, so two processes on two cores do twice the work. Torch-heavy units
(GAN inference, LPIPS) get ``cores // workers`` intra-op threads each, so the pool never
oversubscribes the machine. Workers never inherit the parent's thread pools or progress-bar
thread: they are forked from a clean *forkserver* that has already imported torch and the
harness (importing torch alone takes ~10 s on a slow 2-core VM, so each new worker would
otherwise pay it), or spawned where there is no forkserver (Windows). They therefore see only
the plugins installed through entry points, not ones registered in-process with
:func:`harmbench.registry.register_plugin`; use one worker for those.

Workers die with the process that made the pool, even when it is killed with ``SIGKILL``:
each runs a watchdog thread that exits as soon as
:func:`multiprocessing.parent_process` (the pool's owner, not the forkserver) has gone, and on
Linux also asks the kernel for ``SIGKILL`` when its own parent (the forkserver) dies. The
forkserver and the resource tracker then exit by themselves: they only live while a process
holding their pipes does. (The forkserver itself gets no parent-death signal: that signal
follows the *thread* that started it, and a pool made from a short-lived thread would kill the
shared forkserver with it.)
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

#: environment variable overriding the default number of worker processes
WORKERS_ENV = "HARMBENCH_WORKERS"
#: modules the forkserver imports once, so forked workers start warm
PRELOAD = ["torch", "harmbench.harness.units"]


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers() -> int:
    """``HARMBENCH_WORKERS`` if set, else ``min(2, CPUs)``."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            from harmbench.errors import DataError

            raise DataError(f"{WORKERS_ENV} must be a positive integer; got {env!r}")
        return n
    return min(2, cpu_count())


#: Linux ``prctl`` option: signal sent to this process when its parent exits
PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent exits.

    Returns False where ``prctl`` is unavailable (other systems); use :func:`watch_parent` there.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(poll_seconds: float = 1.0) -> threading.Thread:
    """Start a daemon thread that ends this process (``os._exit(1)``) once its owner is gone.

    The owner is :func:`multiprocessing.parent_process` (the process that started this one, also
    under forkserver); its sentinel becomes ready the moment it exits, on every OS. Outside a
    multiprocessing child, the thread polls ``os.getppid()`` every ``poll_seconds`` instead.
    """
    owner = multiprocessing.parent_process()
    ppid = os.getppid()

    def watch() -> None:
        if owner is not None:
            owner.join()
        else:
            while os.getppid() == ppid:
                time.sleep(poll_seconds)
        os._exit(1)

    t = threading.Thread(target=watch, name="harmbench-parent-watchdog", daemon=True)
    t.start()
    return t


def _init_worker(torch_threads: int | None) -> None:
    set_parent_death_signal()
    watch_parent()
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)


def worker_pool(workers: int, *, torch_threads: bool = False) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, forked from the warm forkserver (spawned on Windows).

    Args:
        workers: number of processes (>= 1).
        torch_threads: give each worker ``max(1, CPUs // workers)`` torch intra-op threads
            (imports torch in every worker); leave False for pools that never use torch.
    """
    threads = max(1, cpu_count() // workers) if torch_threads else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_init_worker, initargs=(threads,))


def _context():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # no effect once the server runs; import errors are ignored
    return ctx
