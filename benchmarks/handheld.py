"""Handheld runtimes side by side: ExecuTorch (XNNPACK) fp32 and INT8 against ONNX Runtime fp32 and INT8 and
torch eager, in one interleaved loop on this machine, with its ISA and the libraries' versions.

    python benchmarks/handheld.py [--models uniusnet-small,uniusnet] [--rounds 20] [--threads 2]
                                  [--out benchmarks/results]

For each model: the ExecuTorch ``.pte`` lowered to XNNPACK from the model with its spec's deployment rewrites
(fp32; fp16; INT8 through pt2e with XNNPACK's symmetric quantizer on the GEMMs, the spec's float patterns kept in
float: what ``edgeus build`` lowers), the ONNX
export in fp32 and ONNX Runtime's static QDQ INT8 of it as ``cpu-arm-handheld`` builds it (same calibration
images: phantom, 4 per task row), and torch eager fp32 of the model as written. Batch 1; each round runs each
model twice and times the second. Agreement with torch: the largest output difference and the segmentation
argmax agreement on one seeded input. The delegation coverage of each ``.pte`` (nodes on XNNPACK, operators
left to portable kernels) says why INT8 gains what it gains.

This is x86 (XNNPACK's AVX kernels), not a phone's ARM cores: the ratios say how the runtimes compare on one
CPU, not a phone's latency. fp16 especially: x86 without AVX512-FP16 has no half-precision arithmetic, so
XNNPACK's f16 kernels here convert to fp32 and back around each operator (F16C): its time is not a phone's FP16
time, and ``edgeus build`` excludes the plan on such a machine; it is timed here to show that. Results: ``results/handheld.json`` and ``results/handheld.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from cpu_backends import fixed_weights
from machine import add_common_options, header, machine, versions, write_results

import edgeus
from edgeus.backends.executorch.lower import lower_to_pte
from edgeus.backends.executorch.runner import ExecuTorchRunner
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.torch import TorchRunner
from edgeus.data.calibration import iter_feeds
from edgeus.models.rewrites import apply_rewrites


def build_models(model: str, work: Path) -> tuple[dict, dict, object]:
    import torch

    weights = fixed_weights(model, work)
    loaded = edgeus.load_model(model, str(weights) if weights else None)
    data = work.parent / "phantom-n4"
    if not (data / "phantom.json").is_file():
        edgeus.generate_phantom(data, per_task=4, seed=0)
    profile = edgeus.load_profile("cpu-arm-handheld")
    plan = edgeus.calibration_plan(data, loaded.spec, profile)
    calibration = [tuple(torch.from_numpy(f[n]) for n in loaded.spec.input_names) for f in iter_feeds(plan, loaded.spec)]
    deployed, _ = apply_rewrites(loaded.module, loaded.spec.deploy_rewrites)
    timings = {}
    start = time.perf_counter()
    et_fp32 = lower_to_pte(deployed, loaded.spec, work / "et-fp32", force=True)
    timings["executorch fp32 lowering s"] = time.perf_counter() - start
    start = time.perf_counter()
    et_fp16 = lower_to_pte(deployed, loaded.spec, work / "et-fp16", precision="fp16", force=True)
    timings["executorch fp16 lowering s"] = time.perf_counter() - start
    start = time.perf_counter()
    et_int8 = lower_to_pte(deployed, loaded.spec, work / "et-int8", precision="int8", calibration=calibration,
                           float_patterns=loaded.spec.int8_float_patterns, force=True)
    timings["executorch int8 lowering s"] = time.perf_counter() - start
    onnx = work / "model.onnx"
    edgeus.export(loaded, onnx, force=True)
    ort_int8 = work / "ort-int8"
    result = edgeus.quantize(onnx, profile, loaded.spec, ort_int8, plan, force=True)
    models = {"executorch fp32": ("executorch", et_fp32.path), "executorch fp16": ("executorch", et_fp16.path),
              "executorch int8": ("executorch", et_int8.path),
              "onnxruntime fp32": ("onnxruntime", onnx), "onnxruntime int8": ("onnxruntime", ort_int8 / result.path)}
    delegation = {"executorch fp32": et_fp32.delegation.to_dict(), "executorch fp16": et_fp16.delegation.to_dict(),
                  "executorch int8": et_int8.delegation.to_dict(),
                  "int8 float modules": et_int8.float_modules, **timings}
    return models, delegation, loaded


def time_all(models: dict, loaded, threads: int, rounds: int) -> dict:
    feeds = loaded.spec.example_feeds(1, seed=5)
    runners = {"torch eager fp32": TorchRunner(loaded.module, loaded.spec, threads=threads)}
    for name, (kind, path) in models.items():
        runners[name] = (ExecuTorchRunner(path, threads=threads) if kind == "executorch"
                         else OnnxRuntimeRunner(path, threads=threads))
    for runner in runners.values():
        runner.activate()
    reference = runners["torch eager fp32"].infer(feeds)
    agreement = {}
    for name, runner in runners.items():
        got = runner.infer(feeds)
        agreement[name] = {"max_abs_diff": max(float(np.abs(got[k] - reference[k]).max()) for k in reference),
                           "seg_argmax_agreement": float((got["seg_logits"].argmax(1)
                                                          == reference["seg_logits"].argmax(1)).mean())}
    times = {name: [] for name in runners}
    order = list(runners.items())
    for index in range(rounds):
        for name, runner in (order if index % 2 == 0 else order[::-1]):  # reversed every other round
            runner.infer(feeds)  # settling call
            start = time.perf_counter()
            runner.infer(feeds)
            times[name].append((time.perf_counter() - start) * 1000)
    for runner in runners.values():
        runner.deactivate()
    torch_ms = statistics.median(times["torch eager fp32"])
    ort_ms = statistics.median(times["onnxruntime fp32"])
    return {name: {"median_ms": statistics.median(v), "vs_torch": torch_ms / statistics.median(v),
                   "vs_ort_fp32": ort_ms / statistics.median(v), **agreement[name]} for name, v in times.items()}


def markdown(results: dict) -> str:
    m = results["machine"]
    joined, lines = header(results)
    for model, r in results["models"].items():
        lines += [f"### {model}, batch 1, {results['threads']} threads, {results['rounds']} interleaved rounds "
                  f"({m['cpu']}; ISA {', '.join(m['isa'])}; {joined})", "",
                  "| runtime | median ms | vs torch eager | vs ORT fp32 | max abs diff vs torch | seg argmax agreement |",
                  "|---|---|---|---|---|---|"]
        for name, row in sorted(r["timing"].items(), key=lambda kv: kv[1]["median_ms"]):
            lines.append(f"| {name} | {row['median_ms']:.1f} | {row['vs_torch']:.2f}x | {row['vs_ort_fp32']:.2f}x | "
                         f"{row['max_abs_diff']:.3g} | {row['seg_argmax_agreement']:.4f} |")
        d = r["delegation"]
        for name in ("executorch fp32", "executorch fp16", "executorch int8"):
            top = ", ".join(f"{op} x{n}" for op, n in sorted(d[name]["portable_by_operator"].items(),
                                                             key=lambda kv: -kv[1])[:6])
            lines.append(f"\n{name}: {d[name]['coverage']:.0%} of the graph's nodes on XNNPACK in "
                         f"{d[name]['delegated_subgraphs']} subgraphs; left to portable kernels: {top or 'none'}.")
        lines.append(f"\nINT8 kept in float (the spec's patterns): {', '.join(d['int8 float modules']) or 'nothing'}.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "/tmp/edgeus-bench-handheld")
    args = parser.parse_args()
    results = {"machine": machine(), "versions": versions("executorch"), "threads": args.threads,
               "rounds": args.rounds, "models": {}}
    for model in args.models.split(","):
        print(f"{model}:", flush=True)
        work = Path(args.work) / model
        work.mkdir(parents=True, exist_ok=True)
        models, delegation, loaded = build_models(model, work)
        results["models"][model] = {"timing": time_all(models, loaded, args.threads, args.rounds),
                                    "delegation": delegation}
        write_results(args.out, "handheld", results, markdown, model)


if __name__ == "__main__":
    sys.exit(main())
