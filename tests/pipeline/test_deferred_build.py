"""TensorRT targets on a machine without TensorRT: a deferred bundle whose portable parts verify, with the
QDQ model's accuracy against the budgets; finalize refuses cleanly and leaves the bundle as it was."""

from __future__ import annotations

import json

import pytest
from conftest import (
    assert_one_line_error,
    build_bundle,
    copy_bundle,
    run_subprocess,
    seed_stages,
    tree_digest,
)

from edgeus.backends.tensorrt.device import tensorrt_version, this_device
from edgeus.bundle.verify import verify

pytestmark = pytest.mark.skipif(tensorrt_version() is not None and this_device() is not None,
                                reason="this machine can build engines: dgpu-rtx builds would be finalized here")


def test_jetson_bundle_is_deferred_and_its_portable_parts_verify(jetson_bundle):
    manifest = json.loads((jetson_bundle / "manifest.json").read_text())
    engine = manifest["engine"]
    assert engine["status"] == "pending" and engine["model"] is None
    assert engine["build_input"] == "model/model.qdq.onnx" and engine["portable_model"] == "model/model.onnx"
    for name in ("model/model.onnx", "model/model.qdq.onnx", "model/recipe.json", "model/build_engine.sh",
                 "conformance/vectors.npz", "report.html"):
        assert name in manifest["files"], name
    recipe = json.loads((jetson_bundle / "model/recipe.json").read_text())
    assert recipe["requires"]["compute_capability"] == "8.7" and "--int8" in recipe["trtexec"]
    assert engine["settings"] == recipe["builder"]
    # the QDQ model (ONNX Runtime) was validated against the budgets; latency waits for the device
    assert manifest["accuracy"]["candidate"].startswith("onnxruntime:model.qdq.onnx")
    assert {v["item"] for v in manifest["verdicts"] if v["passed"] is None} >= {"latency p95 (compute, batch 1)"}
    assert any(v["item"].startswith("internal: worst-task DSC drop") and v["passed"] is not None
               for v in manifest["verdicts"])
    assert manifest["performance"] is None
    report = verify(jetson_bundle)
    assert report.passed and report.engine_status == "pending" and len(report.vectors) == 10


def test_dgpu_rtx_bundle_is_deferred_here(small_phantom, jetson_bundle, tmp_path):
    seed_stages(jetson_bundle, tmp_path, ("export",))  # the session's export of the same model
    bundle = build_bundle("dgpu-rtx", small_phantom, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["engine"]["status"] == "pending"
    assert manifest["engine"]["settings"]["target_compute_capability"] == "8.6"
    assert verify(bundle).passed


def test_finalize_without_tensorrt_is_one_line_and_changes_nothing(jetson_bundle):
    before = tree_digest(jetson_bundle)
    result = run_subprocess("finalize", jetson_bundle)
    assert_one_line_error(result.returncode, result.stderr, "cannot finalize", "TensorRT is not installed")
    assert tree_digest(jetson_bundle) == before
    assert not list(jetson_bundle.parent.glob(f".{jetson_bundle.name}-*"))


def test_finalize_refuses_tampered_inputs_and_other_backends(jetson_bundle, x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(jetson_bundle, tmp_path)
    qdq = bundle / "model/model.qdq.onnx"
    data = bytearray(qdq.read_bytes())
    data[-10] ^= 0xFF
    qdq.write_bytes(bytes(data))
    before = tree_digest(bundle)
    code, _, err = run_cli("finalize", bundle)
    assert_one_line_error(code, err, "model/model.qdq.onnx: changed")
    assert tree_digest(bundle) == before
    code, _, err = run_cli("finalize", x86_bundle)
    assert_one_line_error(code, err, "TensorRT and Core ML bundles only")


def test_pending_engine_cannot_run(jetson_bundle, small_phantom, tmp_path, run_cli):
    image = next((small_phantom / "val/segmentation/Breast/imgs").iterdir())
    code, _, err = run_cli("run", jetson_bundle, image, "--dataset", "Breast", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "engine is pending", "edgeus finalize")
