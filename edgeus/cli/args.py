"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse
from pathlib import Path


def profile_dirs(args: argparse.Namespace) -> list[Path]:
    """The extra profile folders of ``--profiles-dir`` (repeatable)."""
    return [Path(p) for p in (getattr(args, "profiles_dir", None) or [])]


JSON_HELP = "also write the report as JSON to FILE ('-' or no FILE: standard output)"


def add_json_option(parser: argparse.ArgumentParser, help_text: str = JSON_HELP) -> None:
    """``--json [FILE]`` the same way on every command: a file, or standard output with '-' or no value."""
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help=help_text)


def emit_json(target: str | None, data: dict | list) -> None:
    """Write ``data`` where ``--json`` asked: nowhere (None), standard output ('-') or a file (atomically)."""
    import json

    if target is None:
        return
    text = json.dumps(data, indent=1) + "\n"
    if target == "-":
        print(text, end="")
        return
    from edgeus.util.atomic import write_atomic

    write_atomic(target, text)
