"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

from edgeus.contracts.limits import MAX_FPS, MAX_THREADS
from edgeus.errors import UsageError

# Numeric options, by their argparse name, wherever a command has them. Checked once before any command runs:
# a 0 would otherwise be taken as "unset" (``threads or default``) and a negative would fail deep inside a
# runtime ("Wrong value -2 for property key INFERENCE_NUM_THREADS") or, for a micro-batch, allocate for it.
AT_LEAST = {"threads": 1, "workers": 1, "batch": 1, "frames": 1, "shards": 1, "min_iters": 1, "per_task": 1,
            "train_per_task": 1, "max_samples": 1, "num_cpus": 0}
# ... and at most: the bounds profiles have (contracts/limits.py); a micro-batch's is the runtime's own check
AT_MOST = {"threads": MAX_THREADS, "workers": (1024, "more frames in flight than any device has cores to run"),
           "fps": MAX_FPS, "shards": (1024, "more shards than images per task")}
POSITIVE_FINITE = ("fps", "max_size")
NON_NEGATIVE_FINITE = ("min_duration", "older_than")


def check_numbers(args: argparse.Namespace) -> None:
    """One line for a numeric option out of its range (see AT_LEAST and AT_MOST)."""
    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    for name, least in AT_LEAST.items():
        value = getattr(args, name, None)
        if value is not None and value < least:
            raise UsageError(f"{flag(name)} must be at least {least}, not {value}")
    for name in POSITIVE_FINITE + NON_NEGATIVE_FINITE:
        value = getattr(args, name, None)
        if value is None:
            continue
        low_ok = value >= 0 if name in NON_NEGATIVE_FINITE else value > 0
        if not (math.isfinite(value) and low_ok):
            kind = "zero or more" if name in NON_NEGATIVE_FINITE else "positive"
            raise UsageError(f"{flag(name)} must be {kind} and finite, not {value:g}")
    for name, (most, why) in AT_MOST.items():
        value = getattr(args, name, None)
        if value is not None and value > most:
            raise UsageError(f"{flag(name)} must be at most {most:g} ({why}), not {value:g}")


def profile_dirs(args: argparse.Namespace) -> list[Path]:
    """The extra profile folders of ``--profiles-dir`` (repeatable)."""
    return [Path(p) for p in (getattr(args, "profiles_dir", None) or [])]


JSON_HELP = "also write the report as JSON to FILE ('-' or no FILE: standard output)"


def add_json_option(parser: argparse.ArgumentParser, help_text: str = JSON_HELP) -> None:
    """``--json [FILE]`` the same way on every command: a file, or standard output with '-' or no value."""
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help=help_text)


# Where '--json -' writes: the process's real standard output, kept aside while a command's tables and notes go
# to standard error (json_only_stdout), so stdout holds the JSON document and nothing else.
_json_stream = None


def _fd_of(stream) -> int | None:
    """The file descriptor behind a stream, or None when it is not a file (a test's capture, a StringIO)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


@contextlib.contextmanager
def json_only_stdout(active: bool) -> Iterator[None]:
    """While ``active`` (``--json -``): everything a command prints goes to stderr, the JSON to stdout.

    Where stdout is a real file descriptor, it is moved at the descriptor level: native libraries (OpenVINO,
    Ray's connection notes, a C++ progress line) write to fd 1 without passing through sys.stdout."""
    global _json_stream
    if not active:
        yield
        return
    import os

    from edgeus.cli.console import console

    real, console_file = sys.stdout, console._file  # rich reads sys.stdout afresh when _file is None: keep that
    fd, err_fd = _fd_of(real), _fd_of(sys.stderr)
    saved_fd = None
    if fd is not None and err_fd is not None:
        real.flush()
        saved_fd = os.dup(fd)
        os.dup2(err_fd, fd)
        json_stream = open(saved_fd, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 -- closed below
    else:
        json_stream = real
    _json_stream, sys.stdout, console.file = json_stream, sys.stderr, sys.stderr
    try:
        yield
    finally:
        sys.stdout, console._file, _json_stream = real, console_file, None
        if saved_fd is not None:
            json_stream.close()
            sys.stderr.flush()
            os.dup2(saved_fd, fd)
            os.close(saved_fd)


def json_option_before_a_folder(argv: list[str]) -> list[str]:
    """``--json BUNDLE``: argparse would take the bundle folder for the JSON file and then miss the bundle. A JSON
    file is never an existing folder, so a folder right after ``--json`` means standard output."""
    out: list[str] = []
    for i, token in enumerate(argv):
        out.append(token)
        if token == "--json" and i + 1 < len(argv) and Path(argv[i + 1]).is_dir():
            out.append("-")
    return out


def emit_json(target: str | None, data: dict | list) -> None:
    """Write ``data`` where ``--json`` asked: nowhere (None), standard output ('-') or a file (atomically)."""
    import json

    if target is None:
        return
    text = json.dumps(data, indent=1) + "\n"
    if target == "-":
        stream = _json_stream or sys.stdout
        stream.write(text)
        stream.flush()
        return
    from edgeus.util.atomic import write_atomic

    write_atomic(target, text)
