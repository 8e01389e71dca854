"""Where a compiled OpenVINO model spends its time, by node type, and how fast its INT8 GEMMs run.

The plan search picks the fastest plan; this says what is left in it. OpenVINO's CPU plugin reports each
executed node's time (``PERF_COUNT``); summed by node type and precision, and with each FullyConnected node's
multiply-adds read from the runtime model's shapes, it gives the GOP/s the model's matrix products reach, to set
beside ``gemm_ceiling.py``'s standalone GEMM on the same machine.

    python benchmarks/ov_node_profile.py BUNDLE/model/model.xml [--precision bf16] [--threads 2] [--runs 20]

Batch 1; every input filled with seeded random values of its shape (timing does not depend on them).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from pathlib import Path

import numpy as np


def _static_inputs(model) -> dict[str, list[int]]:
    """Batch 1, the other dimensions as the model declares them."""
    shapes = {}
    for port in model.inputs:
        dims = list(port.get_partial_shape())
        shapes[port.get_any_name()] = [1, *(d.get_length() for d in dims[1:])]
    return shapes


def _fully_connected_macs(compiled) -> dict[str, tuple[int, str]]:
    """Runtime-model FullyConnected node -> (multiply-adds per run, activation precision)."""
    macs = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if not info["layerType"].astype(str).startswith("FullyConnected"):
            continue
        activation = list(op.input(0).get_partial_shape().to_shape())
        weight = list(op.input(1).get_partial_shape().to_shape())
        macs[op.get_friendly_name()] = (int(np.prod(activation[:-1])) * weight[0] * weight[1],
                                        str(op.input(0).get_element_type().get_type_name()))
    return macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an OpenVINO IR (.xml), e.g. a bundle's model/model.xml")
    parser.add_argument("--precision", default="bf16", help="INFERENCE_PRECISION_HINT (f32, bf16, f16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import openvino as ov

    from cpu_backends import machine  # the script's folder is on sys.path; same machine description

    core = ov.Core()
    model = core.read_model(str(args.model))
    shapes = _static_inputs(model)
    model.reshape(shapes)
    compiled = core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_PRECISION_HINT": args.precision,
        "INFERENCE_NUM_THREADS": args.threads, "PERF_COUNT": True})
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    feeds = {name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()}
    for _ in range(3):  # warm-up: first-run allocations and kernel selection
        request.infer(feeds)

    by_type: dict[tuple[str, str], float] = collections.defaultdict(float)
    per_node: dict[str, float] = collections.defaultdict(float)
    walls = []
    for _ in range(args.runs):
        start = time.perf_counter()
        request.infer(feeds)
        walls.append((time.perf_counter() - start) * 1e3)
        for node in request.profiling_info:
            if node.status.name == "EXECUTED":
                ms = node.real_time.total_seconds() * 1e3 / args.runs
                by_type[(node.node_type, node.exec_type)] += ms
                per_node[node.node_name] += ms

    m = machine()
    print(f"{args.model} ({args.precision}, {args.threads} threads, batch 1, {args.runs} runs)")
    print(f"Machine: {m['cpu']}, {m['cores']} cores; ISA {', '.join(m['isa'])}")
    print(f"wall median {statistics.median(walls):.1f} ms; executed nodes {sum(by_type.values()):.1f} ms")
    print("\n| node type | executed as | ms per run |\n|---|---|---|")
    for (node_type, exec_type), ms in sorted(by_type.items(), key=lambda kv: -kv[1])[:12]:
        print(f"| {node_type} | {exec_type} | {ms:.1f} |")

    groups: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for name, (macs, precision) in _fully_connected_macs(compiled).items():
        group = groups[precision]
        group[0] += macs
        group[1] += per_node.get(name, 0.0)
        group[2] += 1
    print("\n| FullyConnected, activations in | nodes | G multiply-adds | ms per run | GOP/s |\n|---|---|---|---|---|")
    for precision, (macs, ms, count) in groups.items():
        rate = f"{2 * macs / ms / 1e6:.0f}" if ms > 0 else "-"
        print(f"| {precision} | {count} | {macs / 1e9:.2f} | {ms:.1f} | {rate} |")


if __name__ == "__main__":
    main()
