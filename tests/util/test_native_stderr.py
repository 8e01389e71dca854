"""A native library's lines on file descriptor 2 go to its logger (so into build.log), not to the console."""

from __future__ import annotations

import logging
import os

from edgeus.util.native_stderr import native_stderr_to_log


def test_lines_written_to_fd_2_are_logged_not_printed(capfd):
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("native-test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with native_stderr_to_log("native-test"):
            os.write(2, b"[threadpool.cpp:66] Resetting threadpool to 2 threads.\n\n")
        os.write(2, b"after\n")
    finally:
        logger.removeHandler(handler)
    err = capfd.readouterr().err
    assert "threadpool" not in err and "after" in err  # fd 2 is restored on the way out
    assert records == ["[threadpool.cpp:66] Resetting threadpool to 2 threads."]
