"""Stage 2, quantize: the profile's backend and precision decide the path.

| backend     | int8 / mixed                          | fp16                         | fp32            |
|-------------|---------------------------------------|------------------------------|-----------------|
| openvino    | NNCF PTQ on the OpenVINO IR           | IR with FP16-compressed weights | IR           |
| onnxruntime | ORT static QDQ (U8 activations, S8 weights) | refused (no fp16 CPU kernels) | ONNX as is |
| tensorrt    | symmetric S8/S8 QDQ ONNX (TensorRT explicit quantization) | fp32 ONNX (FP16 set at engine build) | fp32 ONNX |

``mixed`` is INT8 with the output heads (the layers producing the model's outputs) kept in floating point.
Every result folder holds the model and ``quantize.json``: precision, method, calibration fingerprint and
coverage, ignored scope, toolchain versions, input sha256.
"""

from edgeus.stages.quantize.api import QuantizeOptions, QuantizeResult, quantize

__all__ = ["QuantizeOptions", "QuantizeResult", "quantize"]
