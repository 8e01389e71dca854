"""Atomic output folders: build in a temporary sibling, rename into place only when complete.

A failure or a kill leaves the destination untouched (a leftover ``.name-*`` sibling at worst, which the
next run removes); nothing is replaced unless the caller allows it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeus.errors import OutputExistsError


@contextlib.contextmanager
def atomic_dir(out: Path, *, replace: bool = False) -> Iterator[Path]:
    out = Path(out)
    if out.exists() and not replace:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make a shipped folder private to its builder
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
