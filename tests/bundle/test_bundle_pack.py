"""Packing is byte-for-byte reproducible; unpacking refuses unsafe archives and restores a verifiable bundle."""

from __future__ import annotations

import io
import tarfile

from conftest import assert_one_line_error

from edgeus.bundle.pack import pack, unpack
from edgeus.bundle.verify import verify
from edgeus.util.hashing import sha256_file


def test_packing_twice_gives_the_same_bytes(x86_bundle, tmp_path, run_cli):
    first, digest1 = pack(x86_bundle, tmp_path / "a.tar.gz")
    # touch every file (new mtimes) before the second pack: times must not leak into the archive
    for path in x86_bundle.rglob("*"):
        if path.is_file():
            path.touch()
    code, out, _ = run_cli("pack", x86_bundle, "-o", tmp_path / "b.tar.gz")
    assert code == 0
    assert out.split()[0] == digest1 == sha256_file(tmp_path / "b.tar.gz")
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == x86_bundle.name and names[1:] == sorted(names[1:])
    assert {m.mtime for m in members} == {0} and {m.uid for m in members} == {0}
    assert {m.uname for m in members} == {""}
    code, _, err = run_cli("pack", x86_bundle, "-o", tmp_path / "b.tar.gz")
    assert_one_line_error(code, err, "exists", "--force")


def test_unpack_round_trip_verifies(x86_bundle, tmp_path, run_cli):
    archive, _ = pack(x86_bundle, tmp_path / "bundle.tar.gz")
    target = unpack(archive, tmp_path / "vendor")
    assert target.name == x86_bundle.name
    assert verify(target).passed
    code, _, err = run_cli("unpack", archive, "-o", tmp_path / "vendor")
    assert_one_line_error(code, err, "exists", "--force")


def _archive(tmp_path, name: str, build) -> str:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_malicious_archives_are_refused_whole(tmp_path, run_cli):
    def traversal(tar):
        _file(tar, "bundle/manifest.json")
        _file(tar, "bundle/../../evil.txt")

    def absolute(tar):
        _file(tar, "/tmp/evil.txt")

    def symlink(tar):
        _file(tar, "bundle/manifest.json")
        info = tarfile.TarInfo("bundle/model.bin")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)

    def hardlink(tar):
        info = tarfile.TarInfo("bundle/model.bin")
        info.type, info.linkname = tarfile.LNKTYPE, "bundle/manifest.json"
        tar.addfile(info)

    def device(tar):
        info = tarfile.TarInfo("bundle/dev")
        info.type = tarfile.CHRTYPE
        tar.addfile(info)

    dest = tmp_path / "dest"
    for name, builder, needle in (("t.tar.gz", traversal, "'..'"), ("a.tar.gz", absolute, "absolute path"),
                                  ("s.tar.gz", symlink, "link"), ("h.tar.gz", hardlink, "link"),
                                  ("d.tar.gz", device, "device")):
        code, _, err = run_cli("unpack", _archive(tmp_path, name, builder), "-o", dest)
        assert_one_line_error(code, err, "unsafe archive", needle)
        assert not dest.exists() or not any(dest.iterdir()), "nothing may be extracted"
    assert not (tmp_path / "evil.txt").exists()


def test_corrupt_archive_and_non_bundle(tmp_path, run_cli):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, _, err = run_cli("unpack", bad, "-o", tmp_path / "d")
    assert_one_line_error(code, err, "not a readable .tar.gz")
    plain = _archive(tmp_path, "plain.tar.gz", lambda tar: _file(tar, "stuff/readme.txt"))
    code, _, err = run_cli("unpack", plain, "-o", tmp_path / "d")
    assert_one_line_error(code, err, "no manifest.json")
    assert not (tmp_path / "d" / "stuff").exists()


def test_archives_are_readable_by_others_and_unpack_has_a_size_limit(x86_bundle, tmp_path, run_cli):
    import os

    old = os.umask(0o022)
    try:
        archive, _ = pack(x86_bundle, tmp_path / "a.tar.gz")
    finally:
        os.umask(old)
    assert archive.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: a vendor's other users can read it
    total_mib = sum(p.stat().st_size for p in x86_bundle.rglob("*") if p.is_file()) / 2**20
    code, _, err = run_cli("unpack", archive, "-o", tmp_path / "out", "--max-size", f"{total_mib / 2:.3f}")
    assert_one_line_error(code, err, "above the limit", "nothing extracted")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    code, _, err = run_cli("unpack", archive, "-o", tmp_path / "out", "--max-size", f"{total_mib * 2:.3f}")
    assert code == 0, err
