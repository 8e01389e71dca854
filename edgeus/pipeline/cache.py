"""Content-addressed stage cache: a stage's output folder is named by a hash of its inputs and config.

A stage runs into a temporary folder and is renamed into place only when complete, so an interrupted build
leaves no half-stage behind and the next run resumes after the last finished stage. An identical re-run
finds every folder and reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Generic, TypeVar

from edgeus.errors import EdgeusError
from edgeus.util.atomic import atomic_dir, owner_pid
from edgeus.util.lock import pid_alive


def content_key(*parts: object) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


Payload = TypeVar("Payload")


@dataclass
class StageResult(Generic[Payload]):
    """A finished stage: its folder (named by its key), whether it came from the cache, its ``stage.json``
    record, and its typed payload read back from the folder (a model record, an accuracy or perf report)."""

    name: str
    path: Path
    key: str
    cached: bool
    record: dict
    payload: Payload | None = None


def run_stage(stages_dir: Path, name: str, key: str, work: Callable[[Path], dict],
              load: Callable[[Path], Any] | None = None) -> StageResult:
    """Run ``work(tmp_dir) -> record`` unless ``stages_dir/name-key`` already holds a finished result.
    ``load(folder)`` reads the typed payload from the finished folder, cached or not alike."""
    final = stages_dir / f"{name}-{key}"
    record_file = final / "stage.json"
    if record_file.is_file():
        with contextlib.suppress(OSError):
            os.utime(record_file)  # "last used": what 'edgeus cache prune --older-than' reads
        return StageResult(name, final, key, True, json.loads(record_file.read_text()), load(final) if load else None)
    # replace=True: a folder without stage.json is a stage that never finished
    with atomic_dir(final, replace=True) as tmp:
        record = work(tmp)
        (tmp / "stage.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    return StageResult(name, final, key, False, record, load(final) if load else None)


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


def pack_stages(stages_dir: Path, kinds: tuple[str, ...]) -> tuple[bytes, list[str]]:
    """The finished stage folders of these kinds (``export``, ``quantize``, ...) as one tar archive in memory:
    how a farm ships the stages it ran once to every device (their names are their content keys, so a device's
    build finds them exactly as if it had run them). Returns the archive and the folder names."""
    names = sorted(p.name for p in stages_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name.rsplit("-", 1)[0] in kinds and (p / "stage.json").is_file())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            tar.add(stages_dir / name, arcname=name)
    return buffer.getvalue(), names


def unpack_stages(archive: bytes, stages_dir: Path) -> list[str]:
    """Add the stage folders of ``pack_stages`` to ``stages_dir``; one already there is kept (same key, same
    content). Each folder lands whole (atomic rename) or not at all. Returns the folders added."""
    added = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = tar.getmembers()
        for member in members:
            parts = PurePosixPath(member.name).parts
            if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                raise EdgeusError(f"stage archive: unsafe entry {member.name!r}, nothing extracted")
        for top in sorted({PurePosixPath(m.name).parts[0] for m in members}):
            final = stages_dir / top
            if (final / "stage.json").is_file():
                continue
            with atomic_dir(final, replace=True) as tmp:
                for member in members:
                    parts = PurePosixPath(member.name).parts
                    if parts[0] == top and len(parts) > 1 and member.isfile():
                        target = tmp.joinpath(*parts[1:])
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with tar.extractfile(member) as source:
                            target.write_bytes(source.read())
            added.append(top)
    return added


@dataclass
class CacheKind:
    kind: str          # the stage's name (export, quantize, validate, ...)
    stages: int
    bytes: int


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def finished_stages(stages_dir: Path) -> list[Path]:
    """The finished stage folders of a cache (a ``stage.json`` inside), oldest use first."""
    if not stages_dir.is_dir():
        return []
    found = [p for p in stages_dir.iterdir() if p.is_dir() and (p / "stage.json").is_file()]
    return sorted(found, key=lambda p: (p / "stage.json").stat().st_mtime)


def cache_usage(stages_dir: Path) -> list[CacheKind]:
    """Stages and bytes per kind, largest first."""
    kinds: dict[str, CacheKind] = {}
    for folder in finished_stages(stages_dir):
        kind = folder.name.rsplit("-", 1)[0]
        entry = kinds.setdefault(kind, CacheKind(kind, 0, 0))
        entry.stages += 1
        entry.bytes += _size(folder)
    return sorted(kinds.values(), key=lambda k: -k.bytes)


def prune_stages(stages_dir: Path, older_than_days: float) -> list[Path]:
    """Remove the finished stages not used (built or reused) for ``older_than_days``; returns them. A build
    that needs one again recomputes it (the keys are content hashes)."""
    import time

    cutoff = time.time() - older_than_days * 86400
    removed = [p for p in finished_stages(stages_dir) if (p / "stage.json").stat().st_mtime < cutoff]
    for folder in removed:
        shutil.rmtree(folder)
    return removed
