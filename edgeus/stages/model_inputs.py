"""A model file's inputs against its spec, before quantize or compile spend minutes on it.

Names, ranks, dtypes and every fixed dimension are compared: a model whose image input is 128 x 128 where
the spec says 224 x 224 would otherwise reach NNCF or the runtime and end in their traceback (or, for compile,
ship a model no bundle input fits). Reads ONNX (``onnx``, no external data) and OpenVINO IR (the XML's
Parameter layers, no runtime needed); an unreadable file is one clear error, not a protobuf traceback.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from edgeus.contracts.spec import ModelSpec
from edgeus.errors import EdgeusError, first_line

Dims = tuple[int | str | None, ...]  # a fixed length, a named (dynamic) dimension, or unknown

_ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32"}
_IR_DTYPES = {"f32": "float32", "f16": "float16", "i64": "int64", "i32": "int32"}


def read_inputs(path: Path, error: type[EdgeusError]) -> dict[str, tuple[Dims, str]]:
    """name -> (dimensions, dtype) of the model's inputs (initialisers excluded)."""
    if path.suffix == ".xml":
        return _ir_inputs(path, error)
    return _onnx_inputs(path, error)


def _onnx_inputs(path: Path, error: type[EdgeusError]) -> dict[str, tuple[Dims, str]]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 -- protobuf's DecodeError, a truncated file, not ONNX at all
        raise error(f"{path}: not a readable ONNX model (truncated, or not ONNX: {first_line(exc, 120)})") from None
    if not model.graph.input:
        raise error(f"{path}: not a readable ONNX model (no graph inputs)")
    initialisers = {i.name for i in model.graph.initializer}
    inputs = {}
    for value in model.graph.input:
        if value.name in initialisers:
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)
        inputs[value.name] = (dims, _ONNX_DTYPES.get(tensor.elem_type, f"elem_type {tensor.elem_type}"))
    return inputs


def _ir_inputs(path: Path, error: type[EdgeusError]) -> dict[str, tuple[Dims, str]]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise error(f"{path}: not a readable OpenVINO IR ({first_line(exc, 120)})") from None
    inputs = {}
    for layer in root.iter("layer"):
        if layer.get("type") != "Parameter":
            continue
        data = layer.find("data")
        shape = (data.get("shape", "") if data is not None else "").strip()
        dims = tuple(int(d) if d.lstrip("-").isdigit() and int(d) >= 0 else None
                     for d in shape.split(",") if d.strip()) if shape else ()
        element = data.get("element_type", "") if data is not None else ""
        name = layer.get("name", "")
        port = layer.find("output/port")
        if port is not None and port.get("names"):
            name = port.get("names").split(",")[0].strip()
        inputs[name] = (dims, _IR_DTYPES.get(element, element))
    if not inputs:
        raise error(f"{path}: not a readable OpenVINO IR (no Parameter layers)")
    return inputs


def check_inputs_match(path: Path, spec: ModelSpec, error: type[EdgeusError]) -> None:
    """The spec's inputs (names, ranks, dtypes, fixed dimensions) against the model file's."""
    graph = read_inputs(Path(path), error)
    problems = []
    for inp in spec.inputs:
        found = graph.get(inp.name)
        if found is None:
            problems.append(f"input {inp.name!r} missing (the model has {', '.join(graph) or 'none'})")
            continue
        dims, dtype = found
        if len(dims) != len(inp.shape):
            problems.append(f"input {inp.name!r} has rank {len(dims)}, the spec says {len(inp.shape)}")
        elif any(isinstance(want, int) and isinstance(got, int) and got != want
                 for want, got in zip(inp.shape, dims, strict=True)):
            problems.append(f"input {inp.name!r} is {_shape(dims)}, the spec says {_shape(tuple(inp.shape))}")
        if dtype != inp.dtype:
            problems.append(f"input {inp.name!r} is {dtype}, the spec says {inp.dtype}")
    extra = sorted(set(graph) - {i.name for i in spec.inputs})
    if extra:
        problems.append(f"model input(s) {', '.join(extra)} not in the spec")
    if problems:
        raise error(f"{Path(path).name} does not match the model spec {spec.name!r}: {'; '.join(problems)}")


def _shape(dims: Dims) -> str:
    return " x ".join(str(d) if d is not None else "?" for d in dims)
