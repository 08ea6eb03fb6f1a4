"""Worker processes die with the process that made the pool, even after ``kill -9`` (issue #24.6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

psutil = pytest.importorskip("psutil")

# The owner script: a 2-worker pool from harmbench.parallel, both workers started, then it blocks.
OWNER = textwrap.dedent("""
    import json, os, sys, time
    import harmbench.parallel as parallel

    parallel.PRELOAD = []  # a cold forkserver starts in a second; the preload does not matter here

    def _pid(delay):
        time.sleep(delay)
        return os.getpid()

    if __name__ == "__main__":
        pool = parallel.worker_pool(2)
        pids = sorted(set(pool.map(_pid, [1.0, 1.0])))
        print(json.dumps(pids), flush=True)
        time.sleep(600)
""")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_kill_9_of_the_pool_owner_takes_workers_forkserver_and_tracker_down(tmp_path):
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    helpers: list[int] = []
    try:
        workers = json.loads(proc.stdout.readline())
        assert len(workers) == 2 and proc.pid not in workers
        helpers = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert set(workers) <= set(helpers) and len(helpers) >= 3  # + forkserver (+ resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(_alive(p) for p in helpers):
            time.sleep(0.1)
        left = [p for p in helpers if _alive(p)]
        assert not left, f"still running 5 s after kill -9 of the owner: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in helpers:  # leave nothing behind on a failing (old) main
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
