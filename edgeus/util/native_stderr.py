"""Native libraries that print to the process's standard error themselves (ExecuTorch's C++ runtime logs its
CPU probing and thread-pool resets there) bypass Python's logging, and so the build log: this moves their lines
into a named logger instead, so they land in build.log like every other library's, not on the console."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_to_log(logger_name: str, fd: int = 2) -> Iterator[None]:
    """While inside: file descriptor ``fd`` (2: where native code writes, whatever ``sys.stderr`` is; 1 for a
    library that prints its dumps to standard output) goes to a temporary file; on leaving, each of its lines
    is logged (INFO) to ``logger_name``. Keep it short: another thread's writes to that descriptor meanwhile go
    to the log too. Where the descriptor is closed, nothing is moved."""
    stream = sys.stdout if fd == 1 else sys.stderr
    with contextlib.suppress(AttributeError, OSError, ValueError):
        stream.flush()
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            log = logging.getLogger(logger_name)
            for line in sink.read().decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    log.info(line)
