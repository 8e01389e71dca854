"""How fast can this CPU multiply matrices in INT8 compared with FP32? One run, both CPU runtimes.

The speed targets of issue #4 assume INT8 GEMMs several times faster than FP32 ones, which holds on CPUs with
VNNI (one instruction for a 4-way int8 dot product with 32-bit accumulation). This script measures the ratio
on the machine it runs on, with the same runtimes edgeus deploys with, so a benchmark table can say whether
INT8 *could* be faster here at all:

- ONNX Runtime: fp32 ``MatMul`` vs the integer kernel ``MatMulInteger`` (uint8 x int8 -> int32), the
  kernel its QDQ models run after fusion;
- OpenVINO: fp32 ``MatMul`` (inference precision f32) vs the same MatMul fed by DequantizeLinear from int8
  (a QDQ graph, which OpenVINO's low-precision transformations execute as an int8 GEMM).

    python benchmarks/gemm_ceiling.py [--size 1024] [--threads 2] [--rounds 30]

Prints and writes results/gemm_ceiling.{json,md}: median ms, GOP/s (2·M·N·K / time), INT8/FP32 ratios and the
precision OpenVINO's CPU plugin really executed each GEMM in.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def matmul_models(size: int, folder: Path) -> dict[str, Path]:
    """Three one-node graphs over an M=N=K=size problem, the weight a constant as in a real layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((size, size)).astype(np.float32)
    weight_q = np.clip(np.round(weight / 0.03), -127, 127).astype(np.int8)
    models = {}

    def save(name: str, nodes: list, inputs: list, inits: list) -> None:
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT if name != "int8" else TensorProto.INT32,
                                            [size, size])
        graph = helper.make_graph(nodes, name, inputs, [out], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        models[name] = folder / f"matmul_{name}.onnx"
        onnx.save(model, str(models[name]))

    x_f = helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])
    save("fp32", [helper.make_node("MatMul", ["x", "w"], ["y"])], [x_f], [numpy_helper.from_array(weight, "w")])
    x_u8 = helper.make_tensor_value_info("x", TensorProto.UINT8, [size, size])
    save("int8", [helper.make_node("MatMulInteger", ["x", "w"], ["y"])], [x_u8],
         [numpy_helper.from_array(weight_q, "w")])
    # QDQ: x quantized to uint8 and back, w dequantized from int8; the MatMul between them is what gets fused
    consts = [numpy_helper.from_array(weight_q, "w_q"), numpy_helper.from_array(np.float32(0.03), "w_scale"),
              numpy_helper.from_array(np.int8(0), "w_zero"), numpy_helper.from_array(np.float32(0.02), "x_scale"),
              numpy_helper.from_array(np.uint8(128), "x_zero")]
    save("qdq", [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
                 helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
                 helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"]),
                 helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"])], [x_f], consts)
    return models


def ov_gemm_precisions(compiled) -> dict[str, str]:
    """What OpenVINO really executes: layer type -> runtime precision of the GEMM layers (evidence that the
    QDQ graph runs an integer kernel, not a float one behind dequantization)."""
    out = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str)
        if kind in ("FullyConnected", "MatMul"):
            out[op.get_friendly_name()] = f"{kind} {info['runtimePrecision'].astype(str)}"
    return out


def runners(models: dict[str, Path], threads: int) -> tuple[dict, dict]:
    """variant -> callable running one inference; and OpenVINO's executed GEMM precisions per model."""
    import onnxruntime as ort
    import openvino as ov

    size = int(onnx_shape(models["fp32"]))
    rng = np.random.default_rng(1)
    x_f = rng.standard_normal((size, size)).astype(np.float32)
    x_u8 = rng.integers(0, 255, (size, size), dtype=np.uint8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sessions = {name: ort.InferenceSession(str(models[name]), options, providers=["CPUExecutionProvider"])
                for name in ("fp32", "int8")}
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    compiled = {name: core.compile_model(str(models[name]), "CPU", config) for name in ("fp32", "qdq")}
    precisions = {name: ov_gemm_precisions(model) for name, model in compiled.items()}
    return {
        "ort-fp32": (lambda: sessions["fp32"].run(None, {"x": x_f})),
        "ort-int8 (MatMulInteger)": (lambda: sessions["int8"].run(None, {"x": x_u8})),
        "ov-fp32": (lambda: compiled["fp32"]({"x": x_f})),
        "ov-int8 (QDQ MatMul)": (lambda: compiled["qdq"]({"x": x_f})),
    }, precisions


def onnx_shape(path: Path) -> int:
    import onnx

    return onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeus-gemm-") as folder:
        variants, executed = runners(matmul_models(args.size, Path(folder)), args.threads)
        for run in variants.values():  # warm-up: first-run allocations and kernel selection
            run(), run()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):  # interleaved, so drift hits every variant alike
            for name, run in variants.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    ops = 2 * args.size ** 3
    from cpu_backends import machine  # the script's folder is on sys.path; same machine description

    rows = {name: {"median_ms": float(np.median(t) * 1000), "gops": ops / float(np.median(t)) / 1e9}
            for name, t in times.items()}
    ratios = {"ort int8/fp32": rows["ort-int8 (MatMulInteger)"]["gops"] / rows["ort-fp32"]["gops"],
              "ov int8/fp32": rows["ov-int8 (QDQ MatMul)"]["gops"] / rows["ov-fp32"]["gops"]}
    payload = {"machine": machine(), "size": args.size, "threads": args.threads, "rounds": args.rounds,
               "results": rows, "ratios": ratios,
               "openvino_executed": executed}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gemm_ceiling.json").write_text(json.dumps(payload, indent=1) + "\n")
    title = f"GEMM {args.size}x{args.size}x{args.size}, {args.threads} threads, median of {args.rounds} interleaved rounds"
    m = payload["machine"]
    lines = [title, "", f"**Machine**: {m['cpu']}, {m['cores']} cores; ISA {', '.join(m['isa'])}.", "",
             "| variant | median ms | GOP/s |", "|---|---|---|"]
    lines += [f"| {name} | {r['median_ms']:.2f} | {r['gops']:.0f} |" for name, r in rows.items()]
    lines += ["", *(f"- {name}: {value:.2f}x" for name, value in ratios.items())]
    lines += [f"- OpenVINO ran the {name} graph's GEMM as: {', '.join(layers.values())}"
              for name, layers in executed.items()]
    (args.out / "gemm_ceiling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
