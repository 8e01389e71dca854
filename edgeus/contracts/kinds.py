"""The closed vocabularies that profiles (contracts/profiles.py) and plans (contracts/plans.py) share: the
runtime a target runs and the precision it is built in. Apart from both, so plans can name them without
importing profiles, and profiles can check a pinned plan without an import circle."""

from __future__ import annotations

from enum import Enum
from typing import Literal

# Ultrasound shift families (data/shifts.py defines each; profiles' [budgets.robustness] names them)
ShiftFamily = Literal["gain", "gain_up", "contrast", "tgc", "speckle", "sector", "resolution", "jpeg", "motion_blur"]


class Backend(str, Enum):
    tensorrt = "tensorrt"
    openvino = "openvino"
    onnxruntime = "onnxruntime"
    executorch = "executorch"  # phones and tablets: a .pte lowered to XNNPACK from the torch model
    coreml = "coreml"          # iPhone / iPad: an .mlpackage converted here, compiled and run on Apple's OSes


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"
    mixed = "mixed"  # INT8 where it holds accuracy, FP16/FP32 elsewhere
