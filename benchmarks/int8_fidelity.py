"""Which layers must stay in float for INT8 masks to agree with fp32? One run, both CPU INT8 backends.

For each ignored scope below (from "everything INT8" to "segmentation decoder in float"), quantize the embedded
default with the profile's quantizer (NNCF for cpu-x86-scanner, ONNX Runtime QDQ for cpu-arm-handheld), then
measure against the fp32 ONNX (ONNX Runtime) on phantom validation images: the mean mask Dice per
segmentation task (issue #4's target: >= 0.98 on every task), classification argmax agreement, and the
batch-1 latency of the candidate against fp32 on the same backend, interleaved.

    python benchmarks/int8_fidelity.py      # about 10 minutes on 2 cores; writes results/int8_fidelity.*
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeus.backends.onnxruntime import OnnxRuntimeRunner
from edgeus.backends.openvino import OpenVINORunner
from edgeus.backends.registry import open_runner
from edgeus.calibration import plan_calibration
from edgeus.data.defaults import default_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.export import export_onnx
from edgeus.metrics import dice
from edgeus.models import load_model
from edgeus.preprocess import preprocess, read_image
from edgeus.profiles import load_profile
from edgeus.quantize import QuantizeOptions, quantize

SCOPES = {  # name -> ignored-scope regular expressions (ONNX / OpenVINO node names)
    "all int8": [],
    "seg head float": [r".*layers_task_seg_head.*"],
    "seg last stage + head float": [r".*layers_task_seg_up\.3/.*", r".*layers_task_seg_skip\.3.*",
                                    r".*layers_task_seg_head.*"],
    "seg decoder float": [r".*layers_task_seg_.*"],
    "both decoders float (encoder int8)": [r".*layers_task_seg_.*", r".*layers_task_cls_.*", r".*dec_prompt_mlp.*",
                                           r".*norm_task_cls.*"],
}


def outputs_of(runner, samples, catalog) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for s in samples:
        image = preprocess(read_image(s.image_path, s.id))[None]
        value = runner.infer({"image": image, "prompt": catalog.prompt(s.task)[None]})[s.task.output][0]
        out.setdefault(s.task.key, []).append(value)
    return out


def interleaved_ms(base, cand, feeds, rounds: int) -> tuple[float, float]:
    times = {"base": [], "cand": []}
    for runner in (base, cand):
        runner.infer(feeds)
    for _ in range(rounds):
        for label, runner in (("base", base), ("cand", cand)):
            t = time.perf_counter()
            runner.infer(feeds)
            times[label].append(time.perf_counter() - t)
    return float(np.median(times["base"]) * 1000), float(np.median(times["cand"]) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-task", type=int, default=8, help="validation images per task row")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--targets", default="cpu-x86-scanner,cpu-arm-handheld")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--scopes", help="comma-separated scope names to run (default: all); results of other "
                                         "scopes already in the JSON are kept")
    args = parser.parse_args()
    scopes = {k: v for k, v in SCOPES.items() if not args.scopes or k in args.scopes.split(",")}
    work = Path(tempfile.mkdtemp(prefix="edgeus-fidelity-"))
    loaded = load_model("uniusnet-small")
    # each scope below is measured on its own, without the model spec's own float layers
    spec = loaded.spec.model_copy(update={"int8_float_patterns": []})
    catalog = spec.task_catalog()
    onnx_path = work / "model.onnx"
    export_onnx(loaded, onnx_path)
    data = default_phantom()
    samples = [s for rows in read_dataset(data / "val").by_task().values() for s in rows[: args.per_task]]
    feeds = spec.example_feeds(1)
    with OnnxRuntimeRunner(onnx_path, threads=2) as fp32:
        reference = outputs_of(fp32, samples, catalog)
    results = []
    for target in args.targets.split(","):
        profile = load_profile(target)
        q = profile.quantization
        plan = plan_calibration(read_dataset(data / "train"), spec, per_task=q.calibration_samples_per_task,
                                max_samples=q.calibration_max_samples)
        for scope, patterns in scopes.items():
            out = work / f"{target}-{scope.replace(' ', '_')}"
            start = time.perf_counter()
            quantize(onnx_path, profile, spec, out, plan, QuantizeOptions(ignored_patterns=tuple(patterns)))
            took = time.perf_counter() - start
            with open_runner(out, profile, 2) as cand:
                got = outputs_of(cand, samples, catalog)
                base = (OnnxRuntimeRunner(onnx_path, threads=2) if profile.backend.value == "onnxruntime" else
                        OpenVINORunner(onnx_path, threads=2, inference_precision="f32"))
                with base:
                    base_ms, cand_ms = interleaved_ms(base, cand, feeds, args.rounds)
            per_task = {}
            for key, refs in reference.items():
                pairs = list(zip(refs, got[key], strict=True))
                if key.endswith("segmentation"):
                    per_task[key] = float(np.mean([dice(r.argmax(0), c.argmax(0)) for r, c in pairs]))
                else:
                    per_task[key] = float(np.mean([r.argmax() == c.argmax() for r, c in pairs]))
            seg = {k: v for k, v in per_task.items() if k.endswith("segmentation")}
            row = {"target": target, "backend": profile.backend.value, "scope": scope, "patterns": patterns,
                   "min_seg_dice": min(seg.values()), "worst_task": min(seg, key=seg.get),
                   "min_cls_agreement": min(v for k, v in per_task.items() if k.endswith("classification")),
                   "fp32_ms": base_ms, "int8_ms": cand_ms, "speedup": base_ms / cand_ms,
                   "quantize_s": round(took, 1), "per_task": per_task}
            results.append(row)
            print(f"{target:18s} {scope:28s} min Dice {row['min_seg_dice']:.4f} ({row['worst_task']}), "
                  f"cls agree {row['min_cls_agreement']:.3f}, {cand_ms:.1f} ms vs fp32 {base_ms:.1f} ms", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    from cpu_backends import machine  # the script's folder is on sys.path; same machine description


    previous = args.out / "int8_fidelity.json"
    if args.scopes and previous.is_file():  # keep the other scopes' rows, in SCOPES order
        done = {(r["target"], r["scope"]) for r in results}
        results += [r for r in json.loads(previous.read_text())["results"] if (r["target"], r["scope"]) not in done]
        results.sort(key=lambda r: (args.targets.split(",").index(r["target"]), list(SCOPES).index(r["scope"])))
    payload = {"machine": machine(), "per_task_images": args.per_task, "results": results}
    (args.out / "int8_fidelity.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["| target | kept in float | min mask Dice vs fp32 (task) | min cls agreement | fp32 ms | int8 ms | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['target']} | {r['scope']} | {r['min_seg_dice']:.4f} ({r['worst_task']}) | "
                     f"{r['min_cls_agreement']:.3f} | {r['fp32_ms']:.1f} | {r['int8_ms']:.1f} | {r['speedup']:.2f}x |")
    (args.out / "int8_fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
