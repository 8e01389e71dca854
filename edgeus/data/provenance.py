"""Where a build's evidence came from: the data source, how many images per task and split, a content hash.

A PASSED bundle must say when calibration and validation ran on synthetic phantoms, and the stage cache must
notice an image or mask changed under the same name. So every file under the data root is hashed by content,
once per build; a small cache keyed by path, size and mtime (``file-hashes.json`` in the stage cache folder)
makes the second build cheap. No machine path is recorded: the root's name only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from edgeus.util.hashing import sha256_file

HASH_CACHE = "file-hashes.json"


def file_hashes(root: Path, cache_dir: Path | None = None) -> dict[Path, str]:
    """sha256 of every file under ``root`` (resolved path -> hex), hashed once per build: a file whose size and
    mtime match ``cache_dir/file-hashes.json`` keeps its recorded hash."""
    root = Path(root)
    cache_file = cache_dir / HASH_CACHE if cache_dir else None
    known = _read_cache(cache_file)
    fresh: dict[str, list] = {}
    table: dict[Path, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        resolved = path.resolve()
        entry = known.get(str(resolved))
        same = entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns
        table[resolved] = entry[2] if same else sha256_file(path)
        fresh[str(resolved)] = [stat.st_size, stat.st_mtime_ns, table[resolved]]
    if cache_file is not None:
        _write_cache(cache_file, {**known, **fresh})
    return table


def content_hash(table: dict[Path, str], under: Path) -> tuple[str, int]:
    """sha256 over (path relative to ``under``, file sha256) of the table's files below ``under`` -> (hex, count).
    One table serves the whole data root and each of its splits."""
    under = Path(under).resolve()
    digest = hashlib.sha256()
    count = 0
    for path, file_hash in table.items():  # sorted by path when built
        if path == under or under in path.parents:
            digest.update(f"{path.relative_to(under).as_posix()}\0{file_hash}\n".encode())
            count += 1
    return digest.hexdigest(), count


def _read_cache(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # a damaged cache only costs re-hashing
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def describe_source(root: Path) -> dict:
    """``phantom`` (with the generator's record: seed, images per task) or a user ``folder``."""
    root = Path(root)
    record = root / "phantom.json"
    if record.is_file():
        try:
            phantom = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            phantom = {}
        return {"source": "phantom", "synthetic": True, "generator": phantom.get("generator", "edgeus phantom"),
                # the edgeus version that generated the phantom (None: written before versions were recorded)
                "generator_version": phantom.get("edgeus_version"), "seed": phantom.get("seed"),
                "per_task": phantom.get("per_task"), "root_name": root.name}
    return {"source": "folder", "synthetic": False, "root_name": root.name}


def data_provenance(root: Path, images: dict[str, dict[str, int]], content_sha256: str, files: int) -> dict:
    """The manifest's ``data`` record: source, images per split and task, content hash."""
    return {**describe_source(root), "images": images, "files": files, "content_sha256": content_sha256}


def images_per_task(splits: dict[str, list]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for split, samples in splits.items():
        counts = out.setdefault(split, {})
        for s in samples:
            counts[s.task.key] = counts.get(s.task.key, 0) + 1
    return out
