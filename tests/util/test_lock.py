"""One writer per output folder (edgeus/util/lock.py), and atomic folders that never replace a newcomer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from edgeus.errors import OutputExistsError
from edgeus.pipeline.cache import clean_partial
from edgeus.util.atomic import atomic_dir, owner_pid
from edgeus.util.lock import LOCK_NAME, OutputLocked, output_lock


def test_second_holder_is_refused_naming_the_first(tmp_path):
    with output_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(OutputLocked, match=f"pid {os.getpid()} on {socket.gethostname()}"):
            with output_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_NAME).exists()  # released


def test_lock_is_released_on_an_exception(tmp_path):
    with pytest.raises(RuntimeError), output_lock(tmp_path):
        raise RuntimeError("boom")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_killed_owners_lock_is_taken_over_with_a_message(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                                  "started": "earlier"}))
    notices = []
    with output_lock(tmp_path, notices.append):
        pass
    assert len(notices) == 1 and "stale lock" in notices[0] and dead.stdout.strip() in notices[0]


def test_the_kernel_releases_the_lock_of_a_process_killed_mid_build(tmp_path):
    """kill -9 runs no cleanup: the file stays, the kernel's lock goes with the process."""
    import signal

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from edgeus.util.lock import output_lock\n"
                               f"with output_lock(Path({str(tmp_path)!r})):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputLocked, match=f"pid {holder.pid} on"), output_lock(tmp_path):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert (tmp_path / LOCK_NAME).exists()  # left behind
        notices = []
        with output_lock(tmp_path, notices.append):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        assert len(notices) == 1 and f"pid {holder.pid}" in notices[0] and "no longer holds it" in notices[0]
    finally:
        holder.kill()
        holder.wait(10)


def test_another_hosts_lock_is_never_guessed_stale(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "other-host", "started": "earlier"}))
    with pytest.raises(OutputLocked, match="other-host"), output_lock(tmp_path):
        pass


def test_refused_lock_on_a_new_folder_leaves_nothing(tmp_path):
    target = tmp_path / "new"
    with output_lock(target):
        pass
    assert not target.exists()


def test_atomic_dir_success_failure_and_a_folder_that_appears_meanwhile(tmp_path):
    out = tmp_path / "bundle"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
        assert owner_pid(tmp.name) == os.getpid()
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(ValueError), atomic_dir(tmp_path / "failed") as tmp:
        (tmp / "half.txt").write_text("x")
        raise ValueError("stage failed")
    assert not (tmp_path / "failed").exists() and not list(tmp_path.glob(".failed-*"))
    late = tmp_path / "late"
    with pytest.raises(OutputExistsError, match="appeared"), atomic_dir(late) as tmp:
        (tmp / "mine.txt").write_text("mine")
        late.mkdir()
        (late / "theirs.txt").write_text("theirs")  # another writer finished first
    assert [p.name for p in late.iterdir()] == ["theirs.txt"] and not list(tmp_path.glob(".late-*"))
    with atomic_dir(late, replace=True) as tmp:  # --force replaces it
        (tmp / "mine.txt").write_text("mine")
    assert [p.name for p in late.iterdir()] == ["mine.txt"]


def test_clean_partial_removes_only_dead_writers_folders(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine_alive = tmp_path / f".export-abc-{os.getppid()}-xyz"  # a live process (our parent)
    killed = tmp_path / f".export-abc-{int(dead.stdout)}-xyz"
    mine_alive.mkdir()
    killed.mkdir()
    removed = clean_partial(tmp_path)
    assert removed == [killed] and mine_alive.exists()
