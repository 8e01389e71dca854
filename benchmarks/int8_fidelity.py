"""Which layers must stay in float for INT8 to agree with fp32? One run, both CPU INT8 backends.

For each ignored scope below (from "everything INT8" to the model spec's own scope), quantize the embedded
default with the profile's quantizer (NNCF for cpu-x86-scanner, ONNX Runtime QDQ for cpu-arm-handheld), then
measure against the fp32 ONNX (ONNX Runtime) on the phantom validation and external images: the mean mask Dice
per segmentation task (issue #4's target: >= 0.98 on every task), for classification the mean and p90 of the
largest logit difference, argmax agreement and the AUC drop per task and split (the gates of `edgeus validate`),
and the batch-1 latency of the candidate against fp32 on the same backend, interleaved.

    python benchmarks/int8_fidelity.py      # about 15 minutes on 2 cores; writes results/int8_fidelity.*
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.openvino.runner import OpenVINORunner
from edgeus.backends.registry import open_runner
from edgeus.contracts.profiles import load_profile
from edgeus.data.calibration import plan_calibration
from edgeus.data.defaults import default_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.evidence.evaluate import TaskPredictions, predict
from edgeus.evidence.metrics import auc, mask_agreement
from edgeus.models import load_model
from edgeus.stages.export import export_onnx
from edgeus.stages.quantize import QuantizeOptions, quantize

DECODERS = [r".*layers_task_seg_.*", r".*layers_task_cls_.*", r".*dec_prompt_mlp.*", r".*norm_task_cls.*"]
SCOPES = {  # name -> ignored-scope regular expressions (ONNX / OpenVINO node names); None: the model spec's own
    "all int8": [],
    "seg decoder float": [r".*layers_task_seg_.*"],
    "both decoders float": DECODERS,
    "decoders + patch embed float": [*DECODERS, r".*/swin/patch_embed/.*"],
    "decoders + attn proj float": [*DECODERS, r".*/attn/proj/.*"],
    "model spec (decoders + patch embed + attn proj float)": None,
}


def compare(reference: dict[str, TaskPredictions], got: dict[str, TaskPredictions],
            labels: dict[str, int]) -> dict[str, dict]:
    """Per task row: mask Dice vs fp32, or logit deviation, argmax agreement and AUC drop per split."""
    out: dict[str, dict] = {}
    for key, ref in reference.items():
        cand = got[key]
        if ref.kind == "segmentation":
            out[key] = {"dice": float(np.mean([mask_agreement(a.argmax(0), b.argmax(0))
                                               for a, b in zip(ref.logits, cand.logits, strict=True)]))}
            continue
        dev = [float(np.max(np.abs(a - b))) for a, b in zip(ref.logits, cand.logits, strict=True)]
        row = {"logit_dev_mean": float(np.mean(dev)), "logit_dev_p90": float(np.percentile(dev, 90)),
               "agreement": float(np.mean([a.argmax() == b.argmax() for a, b in zip(ref.logits, cand.logits)]))}
        for split in sorted(set(ref.groups)):
            idx = [i for i, g in enumerate(ref.groups) if g == split]
            y = np.array([labels[ref.sample_ids[i]] for i in idx])
            before = auc(y, np.array([ref.probabilities[i] for i in idx]))
            after = auc(y, np.array([cand.probabilities[i] for i in idx]))
            row[f"auc_drop_{split}"] = None if before is None or after is None else before - after
        out[key] = row
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
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--targets", default="cpu-x86-scanner,cpu-arm-handheld")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--data-seed", type=int, default=0,
                        help="phantom seed (0: the default data the build validates on; another seed gives "
                             "images the scopes were not chosen on)")
    parser.add_argument("--scopes", help="comma-separated scope names to run (default: all); results of other "
                                         "scopes already in the JSON are kept")
    args = parser.parse_args()
    scopes = {k: v for k, v in SCOPES.items() if not args.scopes or k in args.scopes.split(",")}
    work = Path(tempfile.mkdtemp(prefix="edgeus-fidelity-"))
    loaded = load_model("uniusnet-small")
    onnx_path = work / "model.onnx"
    export_onnx(loaded, onnx_path)
    data = default_phantom(seed=args.data_seed)
    samples = read_dataset(data / "val").samples + read_dataset(data / "external").samples
    labels = {s.id: s.label for s in samples if s.label is not None}
    with OnnxRuntimeRunner(onnx_path, threads=2) as fp32:
        reference = predict(fp32, loaded.spec, samples, keep_logits=True)
    results = []
    for target in args.targets.split(","):
        profile = load_profile(target)
        q = profile.quantization
        plan = plan_calibration(read_dataset(data / "train"), loaded.spec, per_task=q.calibration_samples_per_task,
                                max_samples=q.calibration_max_samples)
        for scope, patterns in scopes.items():
            # each named scope is measured on its own, without the model spec's float layers
            spec = loaded.spec if patterns is None else loaded.spec.model_copy(update={"int8_float_patterns": []})
            out = work / f"{target}-{len(results)}"
            start = time.perf_counter()
            quantize(onnx_path, profile, spec, out, plan, QuantizeOptions(ignored_patterns=tuple(patterns or ())))
            took = time.perf_counter() - start
            with open_runner(out, profile, 2) as cand:
                per_task = compare(reference, predict(cand, spec, samples, keep_logits=True), labels)
                base = (OnnxRuntimeRunner(onnx_path, threads=2) if profile.backend.value == "onnxruntime" else
                        OpenVINORunner(onnx_path, threads=2, inference_precision="f32"))
                with base:
                    base_ms, cand_ms = interleaved_ms(base, cand, spec.example_feeds(1), args.rounds)
            seg = {k: v["dice"] for k, v in per_task.items() if "dice" in v}
            cls = {k: v for k, v in per_task.items() if "dice" not in v}
            drops = {f"{k}@{name[9:]}": d for k, v in cls.items() for name, d in v.items()
                     if name.startswith("auc_drop_") and d is not None}
            row = {"target": target, "backend": profile.backend.value, "scope": scope,
                   "patterns": patterns if patterns is not None else loaded.spec.int8_float_patterns,
                   "min_seg_dice": min(seg.values()), "worst_task": min(seg, key=seg.get),
                   "cls_logit_dev_mean": float(np.mean([v["logit_dev_mean"] for v in cls.values()])),
                   "cls_logit_dev_p90": max(v["logit_dev_p90"] for v in cls.values()),
                   "min_cls_agreement": min(v["agreement"] for v in cls.values()),
                   "max_auc_drop": max(drops.values()), "max_auc_drop_task": max(drops, key=drops.get),
                   "fp32_ms": base_ms, "int8_ms": cand_ms, "speedup": base_ms / cand_ms,
                   "quantize_s": round(took, 1), "per_task": per_task}
            results.append(row)
            print(f"{target:18s} {scope:30s} min Dice {row['min_seg_dice']:.4f} ({row['worst_task']}), "
                  f"cls logit dev {row['cls_logit_dev_mean']:.3f}, max AUC drop {row['max_auc_drop']:.3f} "
                  f"({row['max_auc_drop_task']}), {cand_ms:.1f} ms vs fp32 {base_ms:.1f} ms", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    from cpu_backends import machine  # the script's folder is on sys.path; same machine description

    previous = args.out / "int8_fidelity.json"
    if args.scopes and previous.is_file():  # keep the other scopes' rows, in SCOPES order
        done = {(r["target"], r["scope"]) for r in results}
        results += [r for r in json.loads(previous.read_text())["results"]
                    if (r["target"], r["scope"]) not in done and r["scope"] in SCOPES]
        results.sort(key=lambda r: (args.targets.split(",").index(r["target"]), list(SCOPES).index(r["scope"])))
    payload = {"machine": machine(), "data_seed": args.data_seed, "images": {"val": "all", "external": "all"},
               "results": results}
    (args.out / "int8_fidelity.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [("| target | kept in float | min mask Dice vs fp32 (task) | cls logit dev mean / p90 | "
              "min cls agreement | max AUC drop (task@split) | fp32 ms | int8 ms | speed-up |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['target']} | {r['scope']} | {r['min_seg_dice']:.4f} ({r['worst_task']}) | "
                     f"{r['cls_logit_dev_mean']:.3f} / {r['cls_logit_dev_p90']:.3f} | {r['min_cls_agreement']:.3f} | "
                     f"{r['max_auc_drop']:.3f} ({r['max_auc_drop_task']}) | {r['fp32_ms']:.1f} | {r['int8_ms']:.1f} | "
                     f"{r['speedup']:.2f}x |")
    (args.out / "int8_fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
