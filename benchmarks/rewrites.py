"""The deployment rewrites before and after: the same model exported as written and as edgeus exports it (the
spec's ``deploy_rewrites``), timed side by side and profiled node by node in each runtime.

    python benchmarks/rewrites.py [--models uniusnet-small,uniusnet] [--rounds 20] [--threads 2]
                                  [--out benchmarks/results]

For each model: both exports (their outputs compared), and the INT8 model NNCF makes of each for
``cpu-x86-scanner`` (the same calibration images, the spec's float patterns), then one interleaved loop at batch
1 over ONNX Runtime fp32, OpenVINO fp32, OpenVINO bf16 (where the CPU computes bf16) and OpenVINO INT8 (f32 and,
with bf16, bf16 islands) of both forms; each round runs each model twice and times the second. Then each
runtime's own per-node profile of both forms (ONNX Runtime's profiler by operator type; OpenVINO's PERF_COUNT by
node type and the kernel it ran). Results: ``results/rewrites.json`` and ``results/rewrites.md``, with the
machine's CPU, ISA and the libraries' versions.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from cpu_backends import fixed_weights
from machine import add_common_options, header, machine, versions, write_results

import edgeus
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.openvino.runner import OpenVINORunner
from edgeus.models.rewrites import known_rewrites

FORMS = ("as written", "rewritten")


def exports(model: str, weights: Path | None, work: Path) -> tuple[dict[str, Path], dict]:
    loaded = edgeus.load_model(model, str(weights) if weights else None)
    paths, reports = {}, {}
    for form in FORMS:
        path = work / f"{form.replace(' ', '-')}.onnx"
        # every rewrite edgeus has, whether or not the model's spec asks for it: this measures whether it should
        report = edgeus.export(loaded, path, rewrites=[] if form == "as written" else known_rewrites(), force=True)
        paths[form], reports[form] = path, {"nodes": report.nodes_after, "rewrites": report.rewrites,
                                            "max_abs_diff_vs_torch": max(p["max_abs_diff"] for p in report.parity)}
    return paths, reports


def int8_models(paths: dict[str, Path], model: str, work: Path) -> dict[str, Path]:
    """NNCF INT8 of each form for cpu-x86-scanner, on the same phantom calibration images."""
    data = work.parent / "phantom-n4"
    if not (data / "phantom.json").is_file():
        edgeus.generate_phantom(data, per_task=4, seed=0)
    profile = edgeus.load_profile("cpu-x86-scanner")
    spec = edgeus.load_model(model).spec
    plan = edgeus.calibration_plan(data, spec, profile)
    out = {}
    for form, path in paths.items():
        folder = work / f"int8-{form.replace(' ', '-')}"
        out[form] = folder / edgeus.quantize(path, profile, spec, folder, plan, force=True).path
    return out


def time_side_by_side(runners: dict[str, object], feeds: dict, rounds: int) -> dict[str, list[float]]:
    """Every round runs each model twice and times the second; the order reverses every other round, so no form
    always follows the same model (ONNX Runtime's threads spin after a run and slow whatever comes next)."""
    times = {name: [] for name in runners}
    for runner in runners.values():
        runner.activate()
        runner.infer(feeds)
    for index in range(rounds):
        order = list(runners.items())
        for name, runner in (order if index % 2 == 0 else order[::-1]):
            runner.infer(feeds)  # settling call: the previous model's runtime threads wind down
            start = time.perf_counter()
            runner.infer(feeds)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def ort_node_profile(path: Path, feeds: dict, threads: int, runs: int = 10) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling, options.intra_op_num_threads, options.log_severity_level = True, threads, 3
    options.profile_file_prefix = str(Path("/tmp") / f"ort-rewrites-{path.stem}")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name: feeds[i.name] for i in session.get_inputs()}
    session.run(None, wanted)
    for _ in range(runs):
        session.run(None, wanted)
    trace_path = Path(session.end_profiling())
    by_type: collections.Counter = collections.Counter()
    for event in json.loads(trace_path.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_type[event["args"].get("op_name", "?")] += event["dur"] / 1000 / (runs + 1)
    trace_path.unlink()
    return dict(by_type.most_common())


def ov_node_profile(path: Path, feeds: dict, threads: int, precision: str, runs: int = 10) -> dict[str, float]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True,
                                                          "PERFORMANCE_HINT": "LATENCY",
                                                          "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    for _ in range(3):
        request.infer(feeds)
    by_node: collections.Counter = collections.Counter()
    for _ in range(runs):
        request.infer(feeds)
        for info in request.profiling_info:
            if info.status == info.Status.EXECUTED:
                by_node[f"{info.node_type} ({info.exec_type})"] += info.real_time.total_seconds() * 1000 / runs
    return dict(by_node.most_common())


def run_model(model: str, work: Path, threads: int, rounds: int, bf16: bool) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    weights = fixed_weights(model, work)
    paths, reports = exports(model, weights, work)
    feeds = edgeus.load_model(model, str(weights) if weights else None).spec.example_feeds(1)
    with OnnxRuntimeRunner(paths["as written"], threads=threads) as a, OnnxRuntimeRunner(paths["rewritten"], threads=threads) as b:
        outputs = a.infer(feeds), b.infer(feeds)
    form_diff = max(float(np.max(np.abs(outputs[0][k] - outputs[1][k]))) for k in outputs[0])
    int8 = int8_models(paths, model, work)
    configs = [("onnxruntime fp32", lambda p, f: OnnxRuntimeRunner(p, threads=threads), paths),
               ("openvino fp32", lambda p, f: OpenVINORunner(p, threads=threads), paths),
               ("openvino int8", lambda p, f: OpenVINORunner(p, threads=threads), int8)]
    if bf16:
        configs += [("openvino bf16", lambda p, f: OpenVINORunner(p, threads=threads, inference_precision="bf16"), paths),
                    ("openvino int8 + bf16 islands",
                     lambda p, f: OpenVINORunner(p, threads=threads, inference_precision="bf16"), int8)]
    runners = {f"{name}, {form}": make(models[form], form) for name, make, models in configs for form in FORMS}
    times = time_side_by_side(runners, feeds, rounds)
    for runner in runners.values():
        runner.deactivate()
    rows = {}
    for name, _, _ in configs:
        before, after = (times[f"{name}, {form}"] for form in FORMS)
        rows[name] = {"as_written_ms": statistics.median(before), "rewritten_ms": statistics.median(after),
                      "speedup": statistics.median(before) / statistics.median(after),
                      "speedup_per_round": sorted(b / a for b, a in zip(before, after, strict=True))}
    profilers = {"onnxruntime fp32": lambda form: ort_node_profile(paths[form], feeds, threads),
                 "openvino int8": lambda form: ov_node_profile(int8[form], feeds, threads, "f32")}
    if bf16:
        profilers["openvino int8 + bf16 islands"] = lambda form: ov_node_profile(int8[form], feeds, threads, "bf16")
    profiles = {form: {} for form in FORMS}
    for runtime, profile_of in profilers.items():
        # three profiles of each form, alternating (this machine changes speed every few seconds): per node,
        # the median of the three
        runs = {form: [] for form in FORMS}
        for _ in range(3):
            for form in FORMS:
                runs[form].append(profile_of(form))
        for form in FORMS:
            nodes = {k for run in runs[form] for k in run}
            profiles[form][runtime] = dict(sorted(((k, statistics.median(run.get(k, 0.0) for run in runs[form]))
                                                   for k in nodes), key=lambda kv: -kv[1]))
    return {"exports": reports, "max_abs_diff_between_forms": form_diff, "rounds": rounds, "timing": rows,
            "node_profiles": profiles}


def markdown(results: dict) -> str:
    m = results["machine"]
    joined, lines = header(results)
    for model, r in results["models"].items():
        e = r["exports"]
        lines += [f"### {model}, batch 1, {results['threads']} threads, {r['rounds']} interleaved rounds "
                  f"({m['cpu']}; ISA {', '.join(m['isa'])}; {joined})", "",
                  f"Nodes after onnxslim: {e['as written']['nodes']} as written, {e['rewritten']['nodes']} rewritten "
                  f"({', '.join(x['name'] + ': ' + str(x['blocks']) + ' blocks' for x in e['rewritten']['rewrites'])}); "
                  f"largest output difference between the two forms (ONNX Runtime fp32): "
                  f"{r['max_abs_diff_between_forms']:.2e}.", "",
                  "| runtime | as written ms | rewritten ms | speed-up | per round (quartiles) |", "|---|---|---|---|---|"]
        for name, row in r["timing"].items():
            q = statistics.quantiles(row["speedup_per_round"], n=4)
            lines.append(f"| {name} | {row['as_written_ms']:.1f} | {row['rewritten_ms']:.1f} | {row['speedup']:.3f}x | "
                         f"{q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}x |")
        for runtime in r["node_profiles"]["as written"]:
            before, after = (r["node_profiles"][form][runtime] for form in FORMS)
            top = sorted(set(before) | set(after), key=lambda k: -max(before.get(k, 0), after.get(k, 0)))[:12]
            lines += ["", f"{runtime}, ms per run by node type (the runtime's own counters):", "",
                      "| node | as written | rewritten |", "|---|---|---|"]
            lines += [f"| {k} | {before.get(k, 0):.2f} | {after.get(k, 0):.2f} |" for k in top]
            lines.append(f"| **all nodes** | {sum(before.values()):.2f} | {sum(after.values()):.2f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "/tmp/edgeus-bench-rewrites")
    args = parser.parse_args()
    results = {"machine": machine(), "versions": versions(), "threads": args.threads, "models": {}}
    isa = results["machine"]["isa"]
    for model in args.models.split(","):
        print(f"{model}:", flush=True)
        results["models"][model] = run_model(model, Path(args.work) / model, args.threads, args.rounds,
                                             bf16="avx512_bf16" in isa or "amx_bf16" in isa)
        write_results(args.out, "rewrites", results, markdown, model)


if __name__ == "__main__":
    sys.exit(main())
