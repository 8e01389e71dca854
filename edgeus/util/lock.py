"""One writer per output folder: a lock held for the whole of a build.

Two ``edgeus build -o SAME`` started seconds apart used to clean up each other's stage folders. The lock is the
kernel's (``flock`` on ``OUT/.edgeus.lock``), so it goes when its process goes, however it ends (kill -9
included); the file holds the owner's PID, host and start time for the message a second build refuses with.
A file left by a process on this host that no longer holds the lock is taken over, with a message; one naming
another host (a shared folder, where the kernel lock may not reach) is never guessed stale: remove it by hand
when you know that build is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
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


def _acquire(path: Path, folder: Path, notice: Callable[[str], None]) -> int:
    """An open descriptor of ``path`` holding its exclusive kernel lock, or OutputLocked naming the holder."""
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _owner(path)
            who = (f"pid {owner.get('pid')} on {owner.get('host')} since {owner.get('started')}" if owner
                   else "a lock file not yet written")
            raise OutputLocked(f"{folder} is being written by another edgeus build ({who}); wait for it to finish "
                               f"or use another -o") from None
        try:  # a holder unlinks the file as it lets go: lock the file the path names now, not a removed one
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:
            os.close(fd)
            continue
        owner = _owner(path)
        if owner.get("host") not in (None, socket.gethostname()):
            os.close(fd)
            raise OutputLocked(f"{folder} is being written by another edgeus build (pid {owner.get('pid')} on "
                               f"{owner.get('host')} since {owner.get('started')}, another host: never guessed "
                               f"stale; remove {path} only if that build is gone)")
        if owner:
            notice(f"taking over a stale lock in {folder}: pid {owner.get('pid')} on {owner.get('host')} no longer "
                   "holds it")
        return fd


@contextlib.contextmanager
def output_lock(folder: Path, notice: Callable[[str], None] = lambda message: None) -> Iterator[Path]:
    """Hold ``folder/.edgeus.lock`` for the block; released on any exit (exceptions and Ctrl-C included)."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    fd = _acquire(path, folder, notice)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(me).encode())
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)  # still holding the lock: a waiter that opened it retries (see _acquire)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: a build refused on bad input leaves no folder behind
