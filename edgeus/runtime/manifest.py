"""Reading a bundle's manifest and checking its file hashes, with nothing but the standard library.

This module is the vendor's side of the bundle contract (see edgeus/bundle/manifest.schema.json): it must not
import pydantic, torch or any build-time dependency, so a scanner can load a bundle with numpy, Pillow and
its backend runtime alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeus.errors import BundleError
from edgeus.util.hashing import sha256_file
from edgeus.util.paths import inside, is_plain_relative

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"  # beside the manifest, over its bytes (edgeus/bundle/signing.py); not in its file list
SCHEMA_NAME = "edgeus-bundle"
SCHEMA_VERSIONS = (1,)  # versions this edgeus can read


def read_manifest(bundle: str | Path) -> dict:
    """The parsed manifest of a bundle folder; schema name and version checked, nothing else."""
    bundle = Path(bundle)
    path = bundle / MANIFEST
    if not bundle.is_dir():
        raise BundleError(f"{bundle}: not a bundle folder (unpack a .tar.gz first with 'edgeus unpack')")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{bundle}: no {MANIFEST}; this is not an edgeus bundle (or it was not finished)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc.__class__.__name__}); the manifest is corrupt") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA_NAME:
        raise BundleError(f"{path}: not an edgeus bundle manifest (schema is not {SCHEMA_NAME!r})")
    version = manifest.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        raise BundleError(f"{path}: manifest schema version {version!r} is not supported by this edgeus "
                          f"(reads {', '.join(map(str, SCHEMA_VERSIONS))}); use the edgeus release that made the bundle")
    return manifest


def check_files(bundle: str | Path, manifest: dict) -> list[str]:
    """Problems with the files the manifest lists: missing, truncated (size differs) or changed (hash differs)."""
    bundle = Path(bundle)
    problems = []
    for rel, entry in sorted(manifest.get("files", {}).items()):
        if not is_plain_relative(rel):
            problems.append(f"{rel}: not a plain relative path inside the bundle (refused)")
            continue
        try:
            path = inside(bundle, rel, rel, BundleError)
        except BundleError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
            problems.append(f"{rel}: manifest entry needs 'sha256' and 'bytes'")
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = path.stat().st_size
        if size != entry["bytes"]:
            kind = "truncated" if size < entry["bytes"] else "grown"
            problems.append(f"{rel}: {kind} ({size} bytes, manifest says {entry['bytes']})")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: changed (sha256 differs from the manifest)")
    return problems


def unlisted_files(bundle: str | Path, manifest: dict) -> list[str]:
    """Files in the bundle the manifest does not list (not an error: a vendor may add notes, caches)."""
    bundle = Path(bundle)
    listed = set(manifest.get("files", {})) | {MANIFEST, SIGNATURE}
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                  if p.is_file() and p.relative_to(bundle).as_posix() not in listed)
