"""A built bundle verifies; any changed, missing or truncated file is named; schema and version are enforced."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, copy_bundle

from edgeus.bundle.manifest import schema_problems
from edgeus.bundle.verify import verify
from edgeus.runtime.manifest import MANIFEST


def test_bundle_has_every_part(x86_bundle):
    manifest = json.loads((x86_bundle / MANIFEST).read_text())
    assert schema_problems(manifest) == []
    assert manifest["engine"] == {**manifest["engine"], "backend": "openvino", "status": "ready",
                                  "model": "model/model.xml"}
    assert manifest["target"]["precision"] == "int8" and manifest["calibration"]["samples"] > 0
    assert set(manifest["calibration"]["per_task"]) == {t["dataset"] + "/" + t["kind"] for t in manifest["tasks"]}
    assert len(manifest["tasks"]) == 10 and all(len(t["prompt"]) == 15 for t in manifest["tasks"])
    assert len(manifest["model"]["checkpoint_sha256"]) == 64
    for name in ("model/model.xml", "model/model.bin", "conformance/vectors.npz", "conformance/vectors.json",
                 "report.md", "report.html", "accuracy.json", "perf.json", "verdicts.json"):
        assert name in manifest["files"], name
    assert not any(name.startswith("model/cache") for name in manifest["files"])  # machine-specific, not shipped
    assert {"openvino", "nncf", "onnxruntime", "numpy"} <= set(manifest["toolchain"])
    assert manifest["accuracy"]["splits"]["internal"]["tasks"]["Breast_all/segmentation"]["dsc"]["candidate"] > 0


def test_clean_bundle_verifies(x86_bundle, run_cli):
    report = verify(x86_bundle)
    assert report.passed, report.first_problem()
    assert len(report.vectors) == 10
    assert all(v.bundle_deviation <= v.bundle_atol for v in report.vectors)
    code, out, _ = run_cli("verify", x86_bundle)
    assert code == 0 and "10 conformance vectors verified" in out


@pytest.mark.parametrize("name", ["model/model.bin", "model/model.xml", "conformance/vectors.npz", "report.html",
                                  "accuracy.json"])
def test_one_flipped_byte_names_the_file(x86_bundle, tmp_path, run_cli, name):
    bundle = copy_bundle(x86_bundle, tmp_path)
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, name, "changed")


def test_every_file_is_covered(x86_bundle, tmp_path):
    """Flip one byte in each listed file in turn: verification fails naming exactly that file."""
    manifest = json.loads((x86_bundle / MANIFEST).read_text())
    bundle = copy_bundle(x86_bundle, tmp_path)
    for name in manifest["files"]:
        path = bundle / name
        original = path.read_bytes()
        path.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])
        report = verify(bundle)
        assert not report.passed and report.file_problems == [f"{name}: changed (sha256 differs from the manifest)"]
        path.write_bytes(original)


def test_missing_and_truncated_files_are_named(x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    (bundle / "perf.json").unlink()
    data = (bundle / "model/model.bin").read_bytes()
    (bundle / "model/model.bin").write_bytes(data[: len(data) // 3])
    report = verify(bundle)
    assert "perf.json: missing" in report.file_problems
    assert any(p.startswith("model/model.bin: truncated") for p in report.file_problems)
    assert report.vectors == []  # a tampered model is never run
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "does not verify")


def test_unknown_schema_version_and_broken_manifest(x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    manifest = json.loads((bundle / MANIFEST).read_text())
    (bundle / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 99}))
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "schema version 99 is not supported")
    (bundle / MANIFEST).write_text(json.dumps({**manifest, "engine": {"backend": "openvino"}}))
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "manifest.json: engine")
    (bundle / MANIFEST).write_text("{ not json")
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "not valid JSON")
    code, _, err = run_cli("verify", tmp_path / "nothing-here")
    assert_one_line_error(code, err, "not a bundle folder")


def test_out_of_tolerance_device_fails_the_vectors(x86_bundle, tmp_path, run_cli):
    """A device whose outputs drift (simulated by editing the recorded outputs and re-hashing) fails verify."""
    import numpy as np

    from edgeus.bundle.manifest import finish_manifest

    bundle = copy_bundle(x86_bundle, tmp_path)
    vectors = bundle / "conformance/vectors.npz"
    with np.load(vectors) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["t1/bundle"] = arrays["t1/bundle"] + 5.0
    np.savez_compressed(vectors, **arrays)
    manifest = json.loads((bundle / MANIFEST).read_text())
    finish_manifest(bundle, {k: v for k, v in manifest.items() if k != "files"})
    report = verify(bundle)
    assert not report.passed and not report.file_problems
    failed = [v for v in report.vectors if not v.passed]
    assert [v.task for v in failed] == ["Breast/classification"]
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "conformance Breast/classification")
