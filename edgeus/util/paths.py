"""Paths that come from data (record lists, manifests, archives) stay inside their root.

A record's ``img_path_relative`` of ``../outside/x.png`` or ``/etc/passwd``, or a symlinked folder pointing
elsewhere, must never make edgeus read or write outside the folder the user named. ``inside`` resolves the
joined path (symlinks included) and refuses anything that leaves the root. Standard library only: the vendor
runtime uses it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


def is_plain_relative(name: str) -> bool:
    """A relative POSIX path with no ``..``, no empty or ``.`` parts, no drive and no backslash."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    posix = PurePosixPath(name)
    if posix.is_absolute() or PureWindowsPath(name).drive:
        return False
    return all(part not in ("..", ".", "") for part in name.split("/"))


def inside(root: str | Path, relative: str, what: str, error: type[Exception]) -> Path:
    """``root / relative``, refused with ``error`` (one line naming ``what`` and the root) when ``relative`` is
    absolute, climbs out with ``..`` or resolves (through links) outside ``root``."""
    root = Path(root)
    if not isinstance(relative, str) or not relative:
        raise error(f"{what}: path {relative!r} is not a relative path inside {root}")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).drive or relative.startswith("\\"):
        raise error(f"{what}: absolute path {relative!r} refused; paths must stay inside {root}")
    candidate = root / relative
    resolved_root = root.resolve()
    resolved = candidate.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise error(f"{what}: path {relative!r} leads outside {root}; refused")
    return candidate
