"""Ctrl-C and SIGTERM always end a runtime command, within about a second, leaving no temporary output.

Python runs a signal handler only on the main thread and only while that thread can take the GIL. A native
call stuck while holding the GIL (a deadlock inside a runtime's binding, a driver that never returns) makes
the process deaf to Ctrl-C: the handler never runs. No code inside that process can help, so the vendor
runtime commands (``run``, ``uusic25 predict``) do their work in a child process, and the ``edgeus``
process the user started only supervises it:

- the child runs the same command line in its own process group (the terminal's Ctrl-C reaches the
  supervisor alone, which passes it on exactly once) and dies with the supervisor (PR_SET_PDEATHSIG);
- on SIGINT or SIGTERM the supervisor forwards the signal, so a healthy child stops as always (it removes
  its temporary folder, keeps the frames it finished, prints one line); a child still alive after
  ``GRACE_S`` is killed;
- then the supervisor removes what a killed child could not: the temporary siblings it owned (their names
  carry its PID, util/atomic.py), ``write_atomic``'s temporary files created during the run, and an output
  folder the run created and left empty; and exits 130 (SIGINT) or 143 (SIGTERM).

``EDGEUS_NO_SUPERVISOR=1`` runs the command in-process (a debugger, or a platform without fork).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgeus.util.atomic import temp_prefix_of

CHILD_ENV = "EDGEUS_SUPERVISED_CHILD"
OFF_ENV = "EDGEUS_NO_SUPERVISOR"
GRACE_S = 1.0  # a healthy child tidies up in well under this; one that does not is stuck
POLL_S = 0.02
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def wanted(argv_given: bool, outputs: tuple[str, ...] | None) -> bool:
    """Supervise a real command line (not an in-process ``main([...])`` call) of a runtime command, once."""
    return (not argv_given and outputs is not None and os.name == "posix" and not os.environ.get(CHILD_ENV)
            and not os.environ.get(OFF_ENV))


def is_child() -> bool:
    return bool(os.environ.get(CHILD_ENV))


@dataclass
class _Output:
    """One output path of the command, as it was before the run."""
    path: Path
    existed: bool
    siblings: frozenset[str]  # names beside it before the run
    inside: frozenset[str]    # names in it before the run (a folder)

    @classmethod
    def before(cls, path: Path) -> _Output:
        return cls(path, path.exists(), frozenset(_names(path.parent)), frozenset(_names(path)))

    def tidy(self, child_pid: int) -> None:
        """Remove what a killed child left half-done; never anything that was here before the run."""
        for name in set(_names(self.path.parent)) - self.siblings:
            leftover = self.path.parent / name
            if name.startswith(temp_prefix_of(self.path.name, child_pid)):
                shutil.rmtree(leftover, ignore_errors=True)
            elif name.startswith(f".{self.path.name}.") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        if self.path.is_dir():
            for name in set(_names(self.path)) - self.inside:
                if name.startswith(".") and name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        (self.path / name).unlink()
            if not self.existed and not any(self.path.iterdir()):
                with contextlib.suppress(OSError):
                    self.path.rmdir()


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _child_setup() -> None:  # runs in the child between fork and exec
    os.setpgid(0, 0)  # its own process group: the terminal's Ctrl-C goes to the supervisor only
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # may still write to the terminal from that group
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: dies with its supervisor


def supervise(argv: list[str], output_paths: list[Path]) -> int:
    """Run ``edgeus ARGV`` in a child process and stand between it and the signals (module docstring)."""
    outputs = [_Output.before(p) for p in output_paths]
    received: list[int] = []

    def note(signum, _frame) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, note) for s in SIGNAL_EXIT}
    try:
        child = subprocess.Popen([sys.executable, "-m", "edgeus", *argv], env={**os.environ, CHILD_ENV: "1"},
                                 preexec_fn=_child_setup)  # noqa: PLW1509 -- the supervisor has no threads
        return _wait(child, outputs, received)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait(child: subprocess.Popen, outputs: list[_Output], received: list[int]) -> int:
    deadline = None
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if received and deadline is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(received[0])
            deadline = time.monotonic() + GRACE_S
        elif deadline is not None and time.monotonic() > deadline:
            child.kill()
            code = child.wait()
            print("edgeus: interrupted (the run did not stop by itself and was killed)", file=sys.stderr, flush=True)
            break
    if received or code < 0:
        for output in outputs:
            output.tidy(child.pid)
    if received:
        return SIGNAL_EXIT[received[0]]
    if code < 0:  # killed by someone else (the out-of-memory killer, kill -9 of the child)
        name = signal.Signals(-code).name
        print(f"edgeus: error: the run was killed by {name}"
              + (" (out of memory?)" if -code == signal.SIGKILL else ""), file=sys.stderr, flush=True)
        return 1
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally`` tidies up; the exit code is 143."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """In the process that does the work: SIGTERM unwinds the stack (Python's default ends the process at
    once, leaving temporary folders behind)."""
    def raise_terminated(_signum, _frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (main() called from a worker thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
