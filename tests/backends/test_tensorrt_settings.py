"""Profile -> TensorRT builder settings and the equivalent trtexec line (no TensorRT needed)."""

from __future__ import annotations

import pytest

from edgeus.backends.tensorrt.settings import BuilderSettings, builder_settings, trtexec_command
from edgeus.contracts.profiles import load_profile
from edgeus.models import model_spec

SPEC = model_spec("uniusnet")


def test_jetson_orin_nano_int8_from_qdq():
    s = builder_settings(load_profile("jetson-orin-nano"), SPEC, "model/model.qdq.onnx")
    assert (s.int8, s.fp16, s.dla_core, s.precision) == (True, True, None, "int8")
    assert s.workspace_bytes == 1024 * 2**20 and s.builder_optimization_level == 3
    assert s.target_compute_capability == "8.7"
    assert s.shapes.min == s.shapes.opt == s.shapes.max == {"image": (1, 3, 224, 224), "prompt": (1, 15)}
    cmd = trtexec_command(s)
    assert cmd[:2] == ["trtexec", "--onnx=model/model.qdq.onnx"]
    for arg in ("--memPoolSize=workspace:1024M", "--builderOptimizationLevel=3", "--int8", "--fp16",
                "--minShapes=image:1x3x224x224,prompt:1x15", "--timingCacheFile=model/timing.cache"):
        assert arg in cmd
    assert not any(a.startswith(("--useDLACore", "--hardwareCompatibilityLevel")) for a in cmd)


def test_agx_orin_dla_with_gpu_fallback_and_batch_profile():
    s = builder_settings(load_profile("jetson-agx-orin"), SPEC, "model/model.qdq.onnx")
    assert s.dla_core == 0 and s.gpu_fallback and s.workspace_bytes == 4096 * 2**20
    assert s.shapes.min["image"] == (1, 3, 224, 224) and s.shapes.max["image"] == (8, 3, 224, 224)
    assert s.shapes.opt["prompt"] == (1, 15)
    cmd = trtexec_command(s)
    assert "--useDLACore=0" in cmd and "--allowGPUFallback" in cmd
    assert "--maxShapes=image:8x3x224x224,prompt:8x15" in cmd
    assert any("GPU fallback" in n for n in s.notes)


def test_fp16_server_and_hardware_compatibility():
    s = builder_settings(load_profile("uusic25-server"), SPEC, "model/model.onnx")
    assert (s.fp16, s.int8) == (True, False) and s.target_compute_capability is None
    rtx = load_profile("dgpu-rtx")
    tweaked = rtx.model_copy(update={"runtime": rtx.runtime.model_copy(update={
        "tensorrt": rtx.runtime.tensorrt.model_copy(update={"hardware_compatibility": "ampere_plus"})})})
    assert "--hardwareCompatibilityLevel=ampere+" in trtexec_command(builder_settings(tweaked, SPEC, "m.onnx"))


def test_settings_round_trip_through_json():
    import json

    s = builder_settings(load_profile("jetson-agx-orin"), SPEC, "model/model.qdq.onnx")
    assert BuilderSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_non_tensorrt_profile_is_refused():
    from edgeus.errors import ProfileError

    with pytest.raises(ProfileError, match="runtime.tensorrt"):
        builder_settings(load_profile("cpu-x86-scanner"), SPEC, "model.onnx")
