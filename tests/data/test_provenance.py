"""Data content hashes: one table of file hashes per build, digests per split, the size+mtime cache."""

from __future__ import annotations

import json

from edgeus.data.provenance import HASH_CACHE, content_hash, file_hashes


def test_a_changed_file_changes_only_its_splits_digest(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "data" / split).mkdir(parents=True)
        (tmp_path / "data" / split / "a.png").write_bytes(split.encode())
    data, cache = tmp_path / "data", tmp_path / "cache"
    before = file_hashes(data, cache)
    assert len(before) == 2 and json.loads((cache / HASH_CACHE).read_text())
    train, val, whole = (content_hash(before, data / "train"), content_hash(before, data / "val"),
                         content_hash(before, data))
    assert train[1] == val[1] == 1 and whole[1] == 2
    (data / "val" / "a.png").write_bytes(b"other pixels, same name")
    after = file_hashes(data, cache)
    assert content_hash(after, data / "train") == train
    assert content_hash(after, data / "val") != val and content_hash(after, data) != whole
