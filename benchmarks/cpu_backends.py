"""CPU backends side by side, in one run on one machine: torch eager fp32, ONNX Runtime fp32 / INT8,
OpenVINO fp32 / FP16 / INT8, for uniusnet-small (the trained embedded default) and uniusnet (65 M).

    python benchmarks/cpu_backends.py [--models uniusnet-small,uniusnet] [--rounds 20] [--out benchmarks/results]

Latency: every round times one inference of every variant in turn (interleaved), so drift and noisy
neighbours hit all variants alike; medians and p90 over rounds, throughput = batch / median.
Memory: each variant is loaded and run in its own subprocess, peak RSS measured there (absolute and above
the interpreter's baseline), so one variant's allocations never count against another.
Agreement with fp32 (torch eager): per-task Dice of segmentation masks on phantom validation images, max
abs logit difference, classification argmax agreement.
Writes results JSON and a Markdown table; ratios are against torch eager fp32 and ORT fp32 of the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.openvino.runner import OpenVINORunner
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.preprocess import preprocess, read_image
from edgeus.contracts.profiles import Precision, load_profile
from edgeus.data.calibration import plan_calibration
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.evidence.metrics import mask_agreement
from edgeus.models import load_model
from edgeus.stages.export import export_onnx
from edgeus.stages.quantize import QuantizeOptions, quantize
from edgeus.util.hashing import sha256_file

VARIANTS = ("torch-fp32", "ort-fp32", "ort-int8", "ov-fp32", "ov-fp16", "ov-int8")


def fixed_weights(model: str, work: Path) -> Path | None:
    """A model without embedded weights gets one seeded random checkpoint, saved once, so the torch variant
    and every exported/quantized variant run the same weights."""
    from edgeus.models import WEIGHTS_DIR, get_entry

    entry = get_entry(model)
    if entry.default_weights and (WEIGHTS_DIR / entry.default_weights).is_file():
        return None
    path = work / f"{model}-seed0.safetensors"
    if not path.exists():
        import torch
        from safetensors.torch import save_file

        from edgeus.models import create_model

        torch.manual_seed(0)
        save_file({k: v.contiguous() for k, v in create_model(model, pretrained=False).state_dict().items()}, str(path))
    return path


def build_artifacts(model: str, work: Path, data: Path, cal_per_task: int) -> dict[str, Path]:
    """fp32 ONNX, ORT INT8 QDQ, OpenVINO IR fp32/fp16 and NNCF INT8 for one model (cached in work)."""
    weights = fixed_weights(model, work)
    loaded = load_model(model, weights)
    paths = {"onnx": work / f"{model}.onnx"}
    if weights is not None:
        paths["weights"] = weights
    if not paths["onnx"].exists():
        export_onnx(loaded, paths["onnx"])
    plan = plan_calibration(read_dataset(data / "train"), loaded.spec, per_task=cal_per_task)
    jobs = {
        "ort-int8": ("cpu-arm-handheld", Precision.int8, "model.int8.onnx"),
        "ov-fp32": ("cpu-x86-scanner", Precision.fp32, "model.xml"),
        "ov-fp16": ("cpu-x86-scanner", Precision.fp16, "model.xml"),
        "ov-int8": ("cpu-x86-scanner", Precision.int8, "model.xml"),
    }
    onnx_digest = sha256_file(paths["onnx"])
    for variant, (profile, precision, name) in jobs.items():
        # cached under a key of everything that decides the result, so changed settings never reuse a stale model
        settings = json.dumps([onnx_digest, loaded.spec.int8_float_patterns,
                               load_profile(profile).quantization.model_dump(), precision.value, cal_per_task])
        out = work / f"{model}-{variant}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
        if not (out / name).exists():
            start = time.perf_counter()
            quantize(paths["onnx"], load_profile(profile), loaded.spec, out, plan,
                     QuantizeOptions(precision=precision), force=True)
            print(f"  {model} {variant}: quantized in {time.perf_counter() - start:.0f} s", flush=True)
        paths[variant] = out / name
    return paths


def make_runner(variant: str, model: str, paths: dict[str, Path], threads: int):
    if variant == "torch-fp32":
        loaded = load_model(model, paths.get("weights"))
        return TorchRunner(loaded.module, loaded.spec, threads=threads)
    if variant == "ort-fp32":
        return OnnxRuntimeRunner(paths["onnx"], threads=threads)
    if variant == "ort-int8":
        return OnnxRuntimeRunner(paths["ort-int8"], threads=threads)
    precision = {"ov-fp32": "f32", "ov-fp16": "f16", "ov-int8": "f32"}[variant]
    return OpenVINORunner(paths[variant], threads=threads, inference_precision=precision)


def probe_memory(variant: str, model: str, paths: dict[str, Path], threads: int, batch: int) -> dict:
    """Run in a subprocess: peak RSS of loading this variant and running it."""
    code = (
        "import json, sys\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "from cpu_backends import make_runner\n"
        "from edgeus.models import model_spec\n"
        "def hwm():\n"
        "    # VmHWM belongs to this process's address space (reset at exec); ru_maxrss would carry the\n"
        "    # parent's high-water mark across fork+exec and report the benchmark's own memory instead\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "base = hwm()\n"
        f"paths = {{k: __import__('pathlib').Path(v) for k, v in {json.dumps({k: str(v) for k, v in paths.items()})}.items()}}\n"
        f"runner = make_runner({variant!r}, {model!r}, paths, {threads})\n"
        f"feeds = model_spec('uniusnet').example_feeds({batch})\n"
        "with runner:\n"
        "    for _ in range(3):\n"
        "        runner.infer(feeds)\n"
        "peak = hwm()\n"
        "print(json.dumps({'peak_rss_mb': peak / 1024, 'above_baseline_mb': (peak - base) / 1024, 'load_s': runner.load_time_s}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def agreement(model: str, paths: dict[str, Path], threads: int, data: Path, per_task: int) -> dict:
    spec = load_model(model, paths.get("weights")).spec
    catalog = spec.task_catalog()
    dataset = read_dataset(data / "val")
    by_task = dataset.by_task()
    outputs: dict[str, dict[str, list]] = {v: {} for v in VARIANTS}
    for variant in VARIANTS:
        with make_runner(variant, model, paths, threads) as runner:
            for key, samples in by_task.items():
                task = samples[0].task
                for s in samples[:per_task]:
                    image = preprocess(read_image(s.image_path, s.id))[None]
                    out = runner.infer({"image": image, "prompt": catalog.prompt(task)[None]})[task.output][0]
                    outputs[variant].setdefault(key, []).append(out)
    result = {}
    for variant in VARIANTS[1:]:
        per_task_scores = {}
        max_diff = 0.0
        for key, refs in outputs["torch-fp32"].items():
            cands = outputs[variant][key]
            max_diff = max(max_diff, max(float(np.abs(r - c).max()) for r, c in zip(refs, cands, strict=True)))
            if key.endswith("segmentation"):
                per_task_scores[key] = float(np.mean([mask_agreement(r.argmax(0), c.argmax(0)) for r, c in zip(refs, cands, strict=True)]))
            else:
                per_task_scores[key] = float(np.mean([r.argmax() == c.argmax() for r, c in zip(refs, cands, strict=True)]))
        seg = [v for k, v in per_task_scores.items() if k.endswith("segmentation")]
        result[variant] = {"per_task": per_task_scores, "min_seg_dice": min(seg), "max_abs_logit_diff": max_diff}
    return result


def time_interleaved(model: str, paths: dict[str, Path], threads: int, batch: int, rounds: int) -> dict:
    from edgeus.models import model_spec

    feeds = model_spec("uniusnet").example_feeds(batch, seed=batch)
    runners = {v: make_runner(v, model, paths, threads) for v in VARIANTS}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    loads, precisions = {}, {}
    for v, r in runners.items():
        r.activate()
        loads[v] = r.load_time_s
        precisions[v] = getattr(r, "actual_precision", None)
        for _ in range(2):  # warm-up
            r.infer(feeds)
    for _ in range(rounds):
        for v, r in runners.items():
            start = time.perf_counter()
            r.infer(feeds)
            times[v].append(time.perf_counter() - start)
    for r in runners.values():
        r.deactivate()
    stats = {}
    for v, t in times.items():
        arr = np.array(t) * 1000
        stats[v] = {"median_ms": float(np.median(arr)), "p90_ms": float(np.percentile(arr, 90)),
                    "throughput_ips": float(batch / np.median(arr) * 1000), "load_s": loads[v],
                    "openvino_precision": precisions[v], "rounds": rounds}
    return stats


def machine() -> dict:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model_name = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), "")
    present = set(flags.split())  # whole words: a flag may end its line
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
           if f in present]
    return {"cpu": model_name or platform.processor(), "cores": os.cpu_count(), "isa": isa,
            "python": platform.python_version()}


def markdown(results: dict) -> str:
    lines = []
    for model, per_batch in results["latency"].items():
        for batch, stats in per_batch.items():
            torch_ms = stats["torch-fp32"]["median_ms"]
            ort_ms = stats["ort-fp32"]["median_ms"]
            lines += [f"\n### {model}, batch {batch}, {results['threads']} threads\n",
                      "| variant | median ms | p90 ms | img/s | load s | vs torch fp32 | vs ORT fp32 | peak RSS MiB (above baseline) | min seg Dice vs fp32 | max abs logit diff |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for v in VARIANTS:
                s = stats[v]
                mem = results["memory"][model].get(batch, results["memory"][model].get(str(batch), {})).get(v, {})
                agree = results["agreement"][model].get(v)
                lines.append(
                    f"| {v} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} | {s['throughput_ips']:.1f} | {s['load_s']:.2f} | "
                    f"{torch_ms / s['median_ms']:.2f}x | {ort_ms / s['median_ms']:.2f}x | "
                    f"{mem.get('peak_rss_mb', float('nan')):.0f} ({mem.get('above_baseline_mb', float('nan')):.0f}) | "
                    + (("1 | 0 |" if v == "torch-fp32" else f"{agree['min_seg_dice']:.4f} | {agree['max_abs_logit_diff']:.3g} |")
                       if (agree or v == "torch-fp32") and results["agreement"][model] else "n/a | n/a |"))
    return "\n".join(lines) + "\n"


def remeasure_memory(args: argparse.Namespace) -> None:
    results = json.loads((args.out / "cpu_backends.json").read_text())
    threads = results["threads"]
    for model in args.models.split(","):
        paths = build_artifacts(model, args.work, args.work / "phantom", args.calibration_per_task)
        for batch in map(int, args.batches.split(",")):
            results["memory"][model][str(batch)] = {v: probe_memory(v, model, paths, threads, batch) for v in VARIANTS}
            print(model, batch, results["memory"][model][str(batch)], flush=True)
    (args.out / "cpu_backends.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "cpu_backends.md").write_text(markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="uniusnet-small,uniusnet")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rounds-large", type=int, default=8, help="rounds for uniusnet at batch > 1")
    parser.add_argument("--agreement-per-task", type=int, default=6)
    parser.add_argument("--calibration-per-task", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edgeus-bench")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--memory-only", action="store_true",
                        help="re-measure peak RSS only, into an existing results JSON (artefacts from --work)")
    args = parser.parse_args()
    if args.memory_only:
        remeasure_memory(args)
        return

    threads = min(load_profile("cpu-x86-scanner").runtime.threads, os.cpu_count() or 1)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "phantom"
    if not (data / "phantom.json").exists():
        generate_phantom(data, per_task=args.agreement_per_task, train_per_task=args.calibration_per_task,
                         seed=0, splits=("train", "val"), force=True)
    results = {"machine": machine(), "threads": threads, "latency": {}, "memory": {}, "agreement": {},
               "date": time.strftime("%Y-%m-%d")}
    for model in args.models.split(","):
        print(f"{model}: building artefacts", flush=True)
        paths = build_artifacts(model, args.work, data, args.calibration_per_task)
        results["agreement"][model] = agreement(model, paths, threads, data, args.agreement_per_task)
        results["latency"][model], results["memory"][model] = {}, {}
        for batch in map(int, args.batches.split(",")):
            rounds = args.rounds_large if (model == "uniusnet" and batch > 1) else args.rounds
            print(f"{model}: timing batch {batch} ({rounds} interleaved rounds)", flush=True)
            results["latency"][model][batch] = time_interleaved(model, paths, threads, batch, rounds)
            results["memory"][model][batch] = {v: probe_memory(v, model, paths, threads, batch) for v in VARIANTS}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpu_backends.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "cpu_backends.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
