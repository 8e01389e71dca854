"""``flow.prepare``: the device-independent stages (export, quantize) a farm runs once, under the very keys a
build computes, shipped as an archive of stage folders that another machine's build then reuses."""

from __future__ import annotations

import pytest
from conftest import seed_stages

from edgeus.contracts.profiles import load_profile
from edgeus.pipeline.cache import pack_stages, unpack_stages
from edgeus.pipeline.flow import CACHE_DIR, BuildOptions, prepare


def test_prepared_stages_have_the_keys_a_build_uses_and_travel_whole(small_phantom, x86_bundle, tmp_path):
    """(That a device's build then starts at compile is asserted end to end in tests/farm/test_farm_build.py.)"""
    options = BuildOptions(data=small_phantom, out=tmp_path / "prepared", threads=2, plan="int8-hint")
    seed_stages(x86_bundle, options.out, ("export",))  # the session's export; the quantization runs here
    stages = prepare(load_profile("cpu-x86-scanner"), options)
    assert [(s.name, s.cached) for s in stages] == [("export", True), ("quantize", False)]
    built_cache = x86_bundle.parent / CACHE_DIR  # the session's builds share one -o folder, hence one cache
    # the build of the same target with the same plan ran these very stages: same folder names (content keys)
    assert all((built_cache / s.path.name / "stage.json").is_file() for s in stages)
    assert not any(p.name.startswith("uniusnet") for p in options.out.iterdir()), "prepare writes no bundle"

    archive, names = pack_stages(options.out / CACHE_DIR, ("export", "quantize", "scope"))
    assert names == sorted(s.path.name for s in stages)
    device_cache = tmp_path / "device" / CACHE_DIR
    assert unpack_stages(archive, device_cache) == names
    assert unpack_stages(archive, device_cache) == []  # already there: kept, nothing rewritten
    for stage in stages:
        for file in (f for f in stage.path.rglob("*") if f.is_file()):
            assert (device_cache / stage.path.name / file.relative_to(stage.path)).read_bytes() == file.read_bytes()


def test_an_archive_with_an_unsafe_entry_extracts_nothing(tmp_path):
    import io
    import tarfile

    from edgeus.errors import EdgeusError

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("export-abc/stage.json", "../escape.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(EdgeusError, match="unsafe entry"):
        unpack_stages(buffer.getvalue(), tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "escape.txt").exists()
