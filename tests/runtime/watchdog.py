"""Running edgeus in fresh processes under a watchdog: a run that outlives its limit is a hang, and the
failure shows every thread's stack of every process involved (faulthandler on SIGABRT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

TESTS = Path(__file__).resolve().parents[1]
HANG_HOOK = Path(__file__).resolve().parent / "hang_hook"
WATCHDOG_S = 90  # a run here takes 1-5 s on 2 cores; 90 s is a hang, not a slow machine


def environment(extra: dict | None = None) -> dict:
    return {**os.environ, "PYTHONFAULTHANDLER": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]), **(extra or {})}


def start(args: list, extra_env: dict | None = None, command: list | None = None) -> subprocess.Popen:
    argv = command or [sys.executable, "-m", "edgeus"]
    return subprocess.Popen([*argv, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(extra_env))


def watched(args: list, extra_env: dict | None = None, command: list | None = None,
            timeout: float = WATCHDOG_S) -> subprocess.CompletedProcess:
    """Run to the end, or fail the test as a hang with the stacks of the stuck processes."""
    proc = start(args, extra_env, command)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        family = [proc.pid, *(p.pid for p in _children(proc.pid))]
        for pid in reversed(family):  # faulthandler prints each thread's Python stack on SIGABRT
            _signal(pid, signal.SIGABRT)
        time.sleep(2)
        for pid in family:
            _signal(pid, signal.SIGKILL)
        out, err = proc.communicate()
        shown = " ".join(map(str, args))
        pytest.fail(f"HANG: {shown[:300]} ran past {timeout} s; its threads:\n{err[-8000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _children(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
