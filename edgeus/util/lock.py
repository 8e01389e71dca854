"""One writer per output folder: a lock file held for the whole of a build.

Two ``edgeus build -o SAME`` started seconds apart used to clean up each other's stage folders. The lock is a
file ``OUT/.edgeus.lock`` created exclusively (O_EXCL) and holding the owner's PID, host and start time. A
second build refuses with one line naming the owner. A lock left by a killed process on this host (its PID
no longer runs) is taken over, with a message; a lock from another host (a shared folder) is never guessed
stale: remove it by hand when you know that build is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from edgeus.errors import OutputLocked

LOCK_NAME = ".edgeus.lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _owner(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _stale(owner: dict) -> bool:
    return owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) and not pid_alive(owner["pid"])


@contextlib.contextmanager
def output_lock(folder: Path, notice: Callable[[str], None] = lambda message: None) -> Iterator[Path]:
    """Hold ``folder/.edgeus.lock`` for the block; released on any exit (exceptions and Ctrl-C included)."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(2):  # a second try only after removing a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if _stale(owner):
                notice(f"taking over a stale lock in {folder}: pid {owner['pid']} on {owner['host']} no longer runs")
                path.unlink(missing_ok=True)
                continue
            who = (f"pid {owner.get('pid')} on {owner.get('host')} since {owner.get('started')}" if owner
                   else "an unreadable lock file")
            raise OutputLocked(f"{folder} is being written by another edgeus build ({who}); wait for it to finish "
                               f"or use another -o (remove {path} only if that build is gone)") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield path
    finally:
        if _owner(path).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: a build refused on bad input leaves no folder behind
