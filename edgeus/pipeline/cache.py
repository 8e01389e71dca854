"""Content-addressed stage cache: a stage's output folder is named by a hash of its inputs and config.

A stage runs into a temporary folder and is renamed into place only when complete, so an interrupted build
leaves no half-stage behind and the next run resumes after the last finished stage. An identical re-run
finds every folder and reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeus.util.atomic import atomic_dir, owner_pid
from edgeus.util.lock import pid_alive


def content_key(*parts: object) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


@dataclass
class StageResult:
    name: str
    path: Path
    key: str
    cached: bool
    record: dict


def run_stage(stages_dir: Path, name: str, key: str, work: Callable[[Path], dict]) -> StageResult:
    """Run ``work(tmp_dir) -> record`` unless ``stages_dir/name-key`` already holds a finished result."""
    final = stages_dir / f"{name}-{key}"
    record_file = final / "stage.json"
    if record_file.is_file():
        return StageResult(name, final, key, True, json.loads(record_file.read_text()))
    # replace=True: a folder without stage.json is a stage that never finished
    with atomic_dir(final, replace=True) as tmp:
        record = work(tmp)
        (tmp / "stage.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    return StageResult(name, final, key, False, record)


def clean_partial(stages_dir: Path) -> list[Path]:
    """Remove temporary stage folders a killed run left behind: only those whose writer (the PID in the name)
    no longer runs, or ours. Returns what was removed."""
    removed = []
    if stages_dir.is_dir():
        for leftover in stages_dir.glob(".*-*"):
            pid = owner_pid(leftover.name)
            if leftover.is_dir() and (pid is None or pid == os.getpid() or not pid_alive(pid)):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover)
    return removed
