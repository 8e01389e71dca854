"""Real TensorRT on a real NVIDIA GPU: engine build from the deferred bundle, conformance, corrupt engines.

Skipped (with the reason) wherever TensorRT or a GPU is absent, which includes every CI machine of this
project; run them on a Jetson or a GPU workstation with ``pytest -m "tensorrt and gpu"``.
"""

from __future__ import annotations

import json

import pytest
from conftest import copy_bundle

from edgeus.backends.tensorrt.device import tensorrt_version, this_device

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.gpu,
    pytest.mark.skipif(tensorrt_version() is None, reason="TensorRT is not installed (NVIDIA targets only)"),
    pytest.mark.skipif(this_device() is None, reason="no NVIDIA GPU visible"),
]


def test_finalize_builds_checks_and_profiles(jetson_bundle, small_phantom, tmp_path):
    from edgeus.backends.tensorrt.engine_files import recipe_problem
    from edgeus.bundle.verify import verify
    from edgeus.pipeline.deferred import finalize

    bundle = copy_bundle(jetson_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    settings = {**manifest["engine"]["settings"], "target_compute_capability": None}  # any GPU for this test
    manifest["engine"]["settings"] = settings
    from edgeus.bundle.manifest import finish_manifest

    finish_manifest(bundle, {k: v for k, v in manifest.items() if k != "files"})
    assert recipe_problem(settings, this_device()) is None
    done = finalize(bundle, data=small_phantom)
    assert done["engine"]["status"] == "ready" and done["engine"]["model"].endswith(".engine")
    assert done["performance"]["p50_ms"] > 0
    report = verify(bundle)
    assert report.passed, report.first_problem()


def test_corrupted_engine_is_named(tmp_path):
    from edgeus.backends.tensorrt.runner import TensorRTRunner
    from edgeus.errors import BackendError

    bundle = tmp_path / "b"
    bundle.mkdir()
    engine = bundle / "model.engine"
    engine.write_bytes(b"\x00" * 1024)
    (bundle / "model.engine.json").write_text(json.dumps({**this_device().to_dict(), "hardware_compatibility": "none"}))
    with pytest.raises(BackendError, match="cannot deserialize"):
        TensorRTRunner(engine).activate()
