"""``edgeus pack`` / ``edgeus unpack``: a byte-for-byte reproducible .tar.gz, and a safe way back.

Reproducible: entries sorted, every time stamp fixed, owner root:root with no names, modes 0644/0755, gzip
header without a file name or time. Packing the same bundle twice (or on another machine) gives the same
sha256, so a vendor can compare a digest instead of trusting a transfer.

Safe: before anything is written, every member is checked; an absolute path, a ``..`` component, a link or a
device/FIFO entry rejects the whole archive, and so does a total size above the limit (``max_bytes``, 8 GiB
by default, ``--max-size`` on the command line: a gzip bomb must not fill the disk). Extraction then goes to
a temporary sibling renamed into place. Archives are written with ordinary file permissions (0644 under the
usual umask), not mkstemp's private 0600, so a vendor's other users can read them.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from edgeus.errors import OutputExistsError
from edgeus.runtime.manifest import BundleError, check_files, read_manifest
from edgeus.util.atomic import atomic_dir
from edgeus.util.hashing import sha256_file

FIXED_MTIME = 0
DEFAULT_MAX_BYTES = 8 << 30


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def pack(bundle: str | Path, archive: str | Path | None = None, *, force: bool = False) -> tuple[Path, str]:
    """Write ``archive`` (default ``BUNDLE.tar.gz``); returns its path and sha256."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    problems = check_files(bundle, manifest)
    if problems:
        raise BundleError(f"{bundle}: refusing to pack a bundle that does not match its manifest: {problems[0]}")
    archive = Path(archive) if archive else bundle.with_name(bundle.name + ".tar.gz")
    if archive.exists() and not force:
        raise OutputExistsError(f"{archive} exists; pass --force to overwrite it")
    paths = sorted(bundle.rglob("*"), key=lambda p: p.relative_to(bundle).as_posix())
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}-")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            tar.add(bundle, arcname=bundle.name, recursive=False, filter=_normalised)
            for path in paths:
                if path.is_symlink():
                    raise BundleError(f"{path}: bundles may not contain links")
                tar.add(path, arcname=f"{bundle.name}/{path.relative_to(bundle).as_posix()}", recursive=False,
                        filter=_normalised)
        os.replace(tmp_name, archive)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return archive, sha256_file(archive)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return f"absolute path {name!r}"
    if ".." in path.parts:
        return f"path {name!r} climbs out of the bundle ('..')"
    if member.issym() or member.islnk():
        return f"link {name!r} -> {member.linkname!r}"
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        return f"device or FIFO entry {name!r}"
    if not (member.isfile() or member.isdir()):
        return f"entry {name!r} is neither a file nor a folder"
    return None


def unpack(archive: str | Path, dest: str | Path = ".", *, force: bool = False,
           max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Extract a packed bundle into ``dest/<bundle name>``; returns that folder."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise BundleError(f"{archive}: archive not found")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                problem = _member_problem(member)
                if problem:
                    raise BundleError(f"{archive}: unsafe archive, nothing extracted: {problem}")
            seen: set[str] = set()
            for member in members:  # a second member of one name would silently replace the first on extraction
                name = PurePosixPath(member.name).as_posix().rstrip("/")
                if name in seen:
                    raise BundleError(f"{archive}: unsafe archive, nothing extracted: {name!r} is in it twice (a later "
                                      "copy would replace the one whose hash was checked)")
                seen.add(name)
            total = sum(m.size for m in members if m.isfile())
            if total > max_bytes:
                raise BundleError(f"{archive}: unpacks to {total / 2**20:.0f} MiB, above the limit of "
                                  f"{max_bytes / 2**20:.0f} MiB; nothing extracted (raise it with --max-size MiB)")
            tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
            if len(tops) != 1:
                raise BundleError(f"{archive}: expected one bundle folder at the top, found {len(tops)}")
            top = tops.pop()
            target = dest / top
            if target.exists() and not force:
                raise OutputExistsError(f"{target} exists; pass --force to replace it")
            with atomic_dir(target, replace=force) as tmp:
                prefix = len(top) + 1
                for member in members:
                    if member.name == top:
                        continue
                    member.name = member.name[prefix:]
                    tar.extract(member, tmp, filter="data")
                try:
                    read_manifest(tmp)
                except BundleError as exc:
                    raise BundleError(f"{archive}: {str(exc).split(': ', 1)[-1]}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(f"{archive}: not a readable .tar.gz ({exc.__class__.__name__}); the archive is corrupt "
                          "or truncated") from None
    return target
