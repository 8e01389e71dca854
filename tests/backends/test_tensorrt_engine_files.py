"""Engine naming, engine/device and recipe/device compatibility, L4T parsing (no GPU needed)."""

from __future__ import annotations

from edgeus.backends.tensorrt.device import DeviceIdentity, parse_l4t_release
from edgeus.backends.tensorrt.engine_files import engine_file_name, engine_problem, recipe_problem

ORIN = DeviceIdentity("Orin", "8.7", "10.3.0", "36.4.0")
RTX = DeviceIdentity("NVIDIA RTX A4000", "8.6", "10.3.0")


def test_engine_names_say_gpu_capability_tensorrt_and_l4t():
    assert engine_file_name(ORIN, "int8") == "model.int8.orin.sm87.trt10.3.0.l4t36.4.0.engine"
    assert engine_file_name(RTX, "fp16") == "model.fp16.rtx-a4000.sm86.trt10.3.0.engine"


def test_engine_for_another_gpu_or_tensorrt_is_refused_naming_both():
    built = {**RTX.to_dict(), "hardware_compatibility": "none"}
    assert engine_problem(built, RTX) is None
    other_trt = DeviceIdentity("NVIDIA RTX A4000", "8.6", "10.8.0")
    message = engine_problem(built, other_trt)
    assert "TensorRT 10.3.0" in message and "TensorRT 10.8.0" in message and "versions differ" in message
    other_gpu = DeviceIdentity("NVIDIA L4", "8.9", "10.3.0")
    message = engine_problem(built, other_gpu)
    assert "compute capability 8.6" in message and "NVIDIA L4" in message and "differ" in message
    # hardware-compatible engines run on any Ampere or newer GPU, not on Turing
    portable = {**built, "hardware_compatibility": "ampere_plus"}
    assert engine_problem(portable, other_gpu) is None
    assert "8.0 or newer" in engine_problem(portable, DeviceIdentity("Tesla T4", "7.5", "10.3.0"))


def test_jetson_engine_is_tied_to_its_l4t_release():
    built = {**ORIN.to_dict(), "hardware_compatibility": "none"}
    assert engine_problem(built, ORIN) is None
    assert "L4T" in engine_problem(built, DeviceIdentity("Orin", "8.7", "10.3.0", "36.3.0"))


def test_recipe_for_another_gpu_family():
    recipe = {"target_compute_capability": "8.7", "target_device": "NVIDIA Jetson Orin Nano 8GB", "dla_core": None}
    assert recipe_problem(recipe, ORIN) is None
    message = recipe_problem(recipe, RTX)
    assert "Jetson Orin Nano" in message and "8.7" in message and "RTX A4000" in message and "8.6" in message
    dla = {"target_compute_capability": None, "dla_core": 0}
    assert "DLA" in recipe_problem(dla, RTX)
    hw = {"target_compute_capability": None, "dla_core": None, "hardware_compatibility": "ampere_plus"}
    assert "JetPack" in recipe_problem(hw, ORIN)


def test_l4t_release_parsing():
    line = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024"
    assert parse_l4t_release(line) == "36.4.0"
    assert parse_l4t_release("garbage") is None
