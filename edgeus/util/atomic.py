"""Atomic output folders: build in a temporary sibling, rename into place only when complete.

A failure or a kill leaves the destination untouched (a leftover ``.name-PID-*`` sibling at worst, which a
later run removes once that PID is gone); nothing is replaced unless the caller allows it, including a
folder that another writer created while this one was working.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeus.errors import OutputExistsError


def temp_prefix(name: str) -> str:
    """The prefix of a temporary sibling: the writer's PID is in it, so clean-ups can tell whose it is."""
    return temp_prefix_of(name, os.getpid())


def temp_prefix_of(name: str, pid: int) -> str:
    """The prefix of the temporary siblings of ``name`` that process ``pid`` writes."""
    return f".{name}-{pid}-"


def owner_pid(temp_name: str) -> int | None:
    """The PID in a temporary sibling's name (``.name-PID-random``), None if it has none."""
    parts = temp_name.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


@contextlib.contextmanager
def atomic_dir(out: Path, *, replace: bool = False) -> Iterator[Path]:
    out = Path(out)
    if out.exists() and not replace:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=temp_prefix(out.name)))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make a shipped folder private to its builder
    try:
        yield tmp
        if out.exists() and not replace:  # another writer made it while we worked: theirs stays
            raise OutputExistsError(f"{out} appeared while this one was being written; pass --force to replace it")
        old = None
        if out.exists():  # move the old one aside first, so the destination is never missing for long
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=temp_prefix(out.name)))
            os.replace(out, old / "old")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: str | Path, data: bytes | str, *, force: bool = True) -> Path:
    """Write a file through a temporary sibling renamed into place: a failure (disk full, permission, Ctrl-C)
    leaves neither a half-written file nor the temporary one. ``force=False`` refuses an existing file."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    fd, tmp_name = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                    suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp's 0600 would make the output private to its writer
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
