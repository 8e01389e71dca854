"""Every deployment plan side by side, in one run on one machine, with the plan edgeus chooses marked.

The targets' speed budgets are opened up (``measured_here``): a device's latency budget cannot be met, or
missed, on a 2-core build machine, so the choice rests on the accuracy gates and the measured ranking.

    python benchmarks/plans.py [--models uniusnet-small,uniusnet] [--targets cpu-x86-cart-spr,cpu-x86-scanner]
                               [--rounds 20] [--threads 2] [--out benchmarks/results]

For each model and target, ``edgeus.build`` runs its plan search (every plan of every runtime the target
allows and this machine can measure: OpenVINO's and ONNX Runtime's on the x86 profiles; quantized, compiled,
gated on held-out phantom images) and names its choice. Then one interleaved loop times every plan of every
build at batch 1 beside the peers a user would pick instead: torch eager fp32 of the model, and ONNX Runtime
fp32 and OpenVINO fp32 of the model exported as written (``edgeus export --no-rewrite``: no deployment rewrite),
plus ONNX Runtime fp32 of edgeus's own export (with the spec's rewrites, if it asks for any). Each round runs each
model twice and times the second (the first lets the previous model's runtime threads wind down: ONNX Runtime's
spin after a run slowed whichever model came next), so drift and noisy neighbours hit all alike; medians over
rounds, ratios against the peers of the same run.

Why ONNX Runtime INT8 is (or is not) faster than fp32: its own profiler, on both models, time per operator
type; the QuantizeLinear / DequantizeLinear share says what the Q/DQ pairs around float islands cost.

Results: ``results/plans.json`` and ``results/plans.md``, with the machine's CPU, ISA and the libraries'
versions beside every table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from cpu_backends import fixed_weights
from machine import add_common_options, header, machine, versions, write_results

import edgeus
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.registry import open_runner
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.profiles import Backend

TORCH = "peer: torch eager fp32"
ORT_FP32 = "peer: onnxruntime fp32 (exported as written)"
OV_FP32 = "peer: openvino fp32 (exported as written)"
ORT_FP32_REWRITTEN = "peer: onnxruntime fp32 (edgeus's export, with its spec's rewrites)"
PEERS = (TORCH, ORT_FP32, OV_FP32, ORT_FP32_REWRITTEN)


def measured_here(profile):
    """The target's profile with its speed budgets opened up: this 2-core build machine cannot meet a latency
    budget written for the device, and the plan choice here must rest on the accuracy gates and the measured
    ranking, as it would on the device."""
    budgets = profile.budgets.model_copy(update={"latency_p95_ms": 600_000.0, "min_fps": 0.001,
                                                 "peak_memory_mb": float(1 << 20), "test_set": None})
    return profile.model_copy(update={"budgets": budgets})


def model_inputs(model: str, work: Path, per_task: int) -> tuple[Path | None, Path]:
    """The model's weights (a seeded checkpoint where it has none embedded) and the phantom data, made once."""
    data = work / f"phantom-n{per_task}"
    if not (data / "phantom.json").is_file():
        edgeus.generate_phantom(data, per_task=per_task, seed=0)
    return fixed_weights(model, work), data


def export_as_written(model: str, weights: Path | None, work: Path) -> Path:
    """The model exported without its spec's deployment rewrites: what a user exporting it themselves gets.
    Exported afresh on every run: a file kept from an earlier run can hold another commit's graph (one kept
    from a run with the rewrite in the export was timed as "as written" once)."""
    path = work / "as-written.onnx"
    edgeus.export(edgeus.load_model(model, str(weights) if weights else None), path, rewrites=[], force=True)
    return path


def run_builds(model: str, weights: Path | None, targets: list[str], work: Path, threads: int, data: Path) -> list[dict]:
    builds = []
    for target in targets:
        for profile in (measured_here(edgeus.load_profile(target)),):
            start = time.perf_counter()
            options = edgeus.BuildOptions(model=model, checkpoint=str(weights) if weights else None, data=data,
                                          out=work / "out",
                                          threads=threads, force=True, plan="auto", profile_min_iters=10,
                                          profile_min_duration_s=1.0)
            try:
                result = edgeus.build(profile, options)
            except edgeus.EdgeusError as exc:
                print(f"  {model} {profile.name}: {exc}", flush=True)
                continue
            plans = result.plans
            print(f"  {model} {profile.name}: plan search in {time.perf_counter() - start:.0f} s, chosen "
                  f"{plans.chosen.plan.name if plans.chosen else None}", flush=True)
            builds.append({"profile": profile, "result": result, "export": result.stages[0].path / "model.onnx"})
    return builds


def time_everything(model: str, weights: Path | None, builds: list[dict], as_written: Path, threads: int,
                    rounds: int) -> dict:
    from edgeus.backends.openvino.runner import OpenVINORunner

    loaded = edgeus.load_model(model, str(weights) if weights else None)
    feeds = loaded.spec.example_feeds(1)
    factories = {TORCH: lambda: TorchRunner(loaded.module, loaded.spec, threads=threads),
                 ORT_FP32: lambda: OnnxRuntimeRunner(as_written, threads=threads),
                 OV_FP32: lambda: OpenVINORunner(as_written, threads=threads),
                 ORT_FP32_REWRITTEN: lambda: OnnxRuntimeRunner(builds[0]["export"], threads=threads)}
    chosen, rows = {}, {}
    for b in builds:
        for run in b["result"].plans.runs:
            if run.model_dir is None:
                continue
            backend = run.profile.backend.value
            label = f"{backend} {run.plan.name}"
            if label not in factories:
                factories[label] = (lambda d=run.model_dir, p=run.profile: open_runner(d, p, threads))
                rows[label] = {"plan": run.plan.name, "backend": backend, "size_mb": run.size_mb}
            rows[label].setdefault("states", {})[b["profile"].name] = run.state
            rows[label].setdefault("worst_drop", run.row()["worst_drop"])
            if run.state == "chosen":
                chosen[b["profile"].name] = label
    times = {name: [] for name in factories}
    runners = {name: f() for name, f in factories.items()}
    precisions = {}
    for name, runner in runners.items():
        runner.activate()
        runner.infer(feeds)
        precisions[name] = getattr(runner, "actual_precision", None)
    order = list(runners.items())
    for index in range(rounds):
        # the order reverses every other round: no model always follows the same one
        for name, runner in (order if index % 2 == 0 else order[::-1]):
            runner.infer(feeds)  # settling call: the previous model's runtime threads wind down here
            start = time.perf_counter()
            runner.infer(feeds)
            times[name].append((time.perf_counter() - start) * 1000)
    for runner in runners.values():
        runner.deactivate()
    torch_ms = statistics.median(times[TORCH])
    ort_ms = statistics.median(times[ORT_FP32])
    table = {}
    for name, values in times.items():
        median = statistics.median(values)
        # Beside the ratio of medians: each round's own ratio (the models of one round run within ~3 s). This
        # shared machine alternates between two speeds every few seconds (a neighbour; uniusnet int8+bf16 runs
        # ~50 ms in one, ~70 ms in the other, and torch eager moves far less), so the spread of the per-round
        # ratios shows how much of a ratio is the machine's state at the time.
        table[name] = {**rows.get(name, {}), "median_ms": median, "p90_ms": sorted(values)[int(0.9 * (len(values) - 1))],
                       "vs_torch": torch_ms / median, "vs_ort_fp32": ort_ms / median, "ran_as": precisions[name],
                       "vs_torch_per_round": _quartiles([t / v for t, v in zip(times[TORCH], values, strict=True)]),
                       "vs_ort_fp32_per_round": _quartiles([o / v for o, v in zip(times[ORT_FP32], values, strict=True)]),
                       "chosen_for": [p for p, label in chosen.items() if label == name]}
    return {"rounds": rounds, "plans": table, "chosen": chosen}


def _quartiles(values: list[float]) -> list[float]:
    """min, lower quartile, median, upper quartile, max."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return [min(values), q[0], q[1], q[2], max(values)]


def ort_operator_profile(onnx_models: dict[str, Path], feeds: dict, threads: int, runs: int = 10) -> dict:
    """ONNX Runtime's own profiler: milliseconds per run by operator type, per model."""
    import onnxruntime as ort

    out = {}
    for name, path in onnx_models.items():
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.profile_file_prefix = str(Path("/tmp") / f"ort-profile-{name.replace(' ', '_')}")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        wanted = {i.name: feeds[i.name] for i in session.get_inputs()}
        for _ in range(runs):
            session.run(None, wanted)
        trace = json.loads(Path(session.end_profiling()).read_text())
        by_type: dict[str, float] = {}
        for event in trace:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                op = event["args"].get("op_name", "?")
                by_type[op] = by_type.get(op, 0.0) + event["dur"] / 1000 / runs
        total = sum(by_type.values())
        top = dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:10])
        qdq = sum(v for k, v in by_type.items() if k in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"))
        out[name] = {"total_ms": total, "top_ms": top, "qdq_ms": qdq, "qdq_share": qdq / total if total else 0.0}
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    joined, lines = header(results)
    for model, r in results["models"].items():
        lines += [f"### {model}, batch 1, {results['threads']} threads ({m['cpu']}; ISA {', '.join(m['isa'])}; "
                  f"{joined}; {r['timing']['rounds']} interleaved rounds)", "",
                  "Ratios are over the peers of the same run: torch eager fp32, and ONNX Runtime fp32 of the model "
                  "exported as written (no deployment rewrite: what a user exporting it themselves runs).", "",
                  "| plan | median ms | vs torch eager fp32 | vs ORT fp32 | per round vs torch (quartiles) | "
                  "per round vs ORT | ran as | worst drop (held-out) | gates per target | chosen for |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        rows = sorted(r["timing"]["plans"].items(), key=lambda kv: kv[1]["median_ms"])
        for name, row in rows:
            states = ", ".join(f"{t}: {s}" for t, s in row.get("states", {}).items()) or "peer"
            worst = f"{row['worst_drop']:.4f}" if row.get("worst_drop") is not None else "-"
            mark = f"**{', '.join(row['chosen_for'])}**" if row["chosen_for"] else ""
            lines.append(f"| {name} | {row['median_ms']:.1f} | {row['vs_torch']:.2f}x | {row['vs_ort_fp32']:.2f}x | "
                         f"{_spread(row.get('vs_torch_per_round'))} | {_spread(row.get('vs_ort_fp32_per_round'))} | "
                         f"{row.get('ran_as') or '-'} | {worst} | {states} | {mark} |")
        lines += ["", "ONNX Runtime profiler, ms per run by operator type:", ""]
        for name, prof in r["ort_profile"].items():
            top = ", ".join(f"{k} {v:.1f}" for k, v in list(prof["top_ms"].items())[:6])
            lines.append(f"- {name}: {prof['total_ms']:.1f} ms in kernels; Q/DQ {prof['qdq_ms']:.1f} ms "
                         f"({100 * prof['qdq_share']:.0f} %); top: {top}")
        lines.append("")
    return "\n".join(lines)


def _spread(quartiles: list[float] | None) -> str:
    return "-" if not quartiles else f"{quartiles[1]:.2f} / {quartiles[2]:.2f} / {quartiles[3]:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "/tmp/edgeus-bench-plans")
    parser.add_argument("--targets", default="cpu-x86-cart-spr,cpu-x86-scanner")
    parser.add_argument("--per-task", type=int, default=12, help="phantom images per task row and split")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other models' results already in OUT/plans.json (from a run on this machine "
                             "with the same versions; refused otherwise), e.g. the full model on fewer targets")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "versions": versions(),
               "threads": args.threads, "targets": args.targets.split(","), "models": {}}
    if args.merge and (Path(args.out) / "plans.json").is_file():
        earlier = json.loads((Path(args.out) / "plans.json").read_text())
        if earlier.get("machine") != results["machine"] or earlier.get("versions") != results["versions"]:
            sys.exit("--merge: OUT/plans.json comes from another machine or other library versions; run without --merge")
        results["models"] = {k: v for k, v in earlier["models"].items() if k not in args.models.split(",")}
        results["targets_per_model"] = earlier.get("targets_per_model", {})
    results.setdefault("targets_per_model", {}).update({m: args.targets.split(",") for m in args.models.split(",")})
    for model in args.models.split(","):
        print(f"{model}:", flush=True)
        weights, data = model_inputs(model, work, args.per_task)
        builds = run_builds(model, weights, args.targets.split(","), work / model, args.threads, data)
        as_written = export_as_written(model, weights, work / model)
        timing = time_everything(model, weights, builds, as_written, args.threads, args.rounds)
        feeds = edgeus.load_model(model, str(weights) if weights else None).spec.example_feeds(1)
        onnx_models = {"fp32 (exported as written)": as_written, "fp32 (edgeus's export)": builds[0]["export"]}
        for b in builds:
            for run in b["result"].plans.runs:
                if run.profile.backend is Backend.onnxruntime and run.plan.compute == "int8" \
                        and run.model_dir is not None:
                    onnx_models[f"int8 ({run.plan.name})"] = next(run.model_dir.glob("*.onnx"))
        results["models"][model] = {"timing": timing, "ort_profile": ort_operator_profile(onnx_models, feeds,
                                                                                           args.threads),
                                    "plan_tables": {b["profile"].name: b["result"].plans.to_dict() for b in builds}}
        write_results(args.out, "plans", results, markdown, model)


if __name__ == "__main__":
    sys.exit(main())
