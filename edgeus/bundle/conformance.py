"""Conformance vectors: one preprocessed input per task row, the bundle's own outputs for it, the fp32
reference outputs and the tolerances a device must hold.

Why two references: the bundle's own outputs say "this device runs the same artefact the same way" (tight,
the backend's numeric noise across CPUs), the fp32 outputs say "and it is still close to the original model"
(as close as it was on the build machine, with headroom). Only numpy is needed to check them, so they live
in the vendor runtime's world (``.npz`` + a JSON index).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeus.contracts.feeds import feeds_by_role, spec_inputs

VECTORS, INDEX = "conformance/vectors.npz", "conformance/vectors.json"
# Element-wise tolerance against the bundle's own outputs, relative to the output's peak magnitude: integer
# kernels differ between ISAs (VNNI vs AVX2 rounding paths), fp16 accumulates differently, fp32 barely.
RELATIVE_SELF_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2, "int8": 5e-2, "mixed": 5e-2}
MIN_SEG_AGREEMENT = {"fp32": 0.999, "fp16": 0.995, "int8": 0.99, "mixed": 0.99}


@dataclass
class VectorCheck:
    task: str
    output: str
    bundle_deviation: float | None
    bundle_atol: float | None
    reference_deviation: float
    reference_atol: float
    agreement: float | None      # argmax agreement with the bundle's recorded outputs
    min_agreement: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _feeds_for(spec, image_tensor: np.ndarray, prompt: np.ndarray) -> dict[str, np.ndarray]:
    return feeds_by_role(spec_inputs(spec), image_tensor[None], prompt)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of argmax decisions (pixels for segmentation, the one decision for classification) that agree."""
    return float(np.mean(np.argmax(a, axis=0) == np.argmax(b, axis=0)))


def make_vectors(out_dir: Path, spec, samples: list, reference, candidate, precision: str, portable=None) -> dict:
    """Write the vectors for one sample per task row.

    ``candidate`` None means the engine is built later on the device (pending); ``portable`` (the fp32 ONNX
    under ONNX Runtime) then gives the tolerance the portable model is checked with until the engine exists.
    """
    from edgeus.contracts.preprocess import preprocess, read_image

    catalog, pre = spec.task_catalog(), spec.preprocessing_spec()
    arrays: dict[str, np.ndarray] = {}
    rows = []
    for i, sample in enumerate(samples):
        task = sample.task
        tensor = preprocess(read_image(sample.image_path, sample.id), pre)
        feeds = _feeds_for(spec, tensor, catalog.prompt(task))
        ref = reference.infer(feeds)[task.output][0]
        prefix = f"t{i}"
        for name, value in feeds.items():
            arrays[f"{prefix}/input/{name}"] = value
        arrays[f"{prefix}/reference"] = ref
        row = {"task": task.key, "sample": sample.id, "output": task.output,
               "inputs": {name: f"{prefix}/input/{name}" for name in feeds},
               "reference": f"{prefix}/reference", "bundle": None,
               "min_agreement": MIN_SEG_AGREEMENT[precision] if task.kind == "segmentation" else 1.0}
        if candidate is not None:
            own = candidate.infer(feeds)[task.output][0]
            arrays[f"{prefix}/bundle"] = own
            row.update(_tolerances(ref, own, precision), bundle=f"{prefix}/bundle")
        elif portable is not None:
            fp32 = portable.infer(feeds)[task.output][0]
            row["portable_atol"] = _tolerances(ref, fp32, "fp32")["reference_atol"]
        rows.append(row)
    (out_dir / Path(VECTORS).parent).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / VECTORS, **arrays)
    index = {"precision": precision, "tasks": rows,
             "rule": "|device - bundle| <= bundle_atol and |device - reference| <= reference_atol element-wise; "
                     "argmax agreement with the bundle outputs >= min_agreement"}
    (out_dir / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return index


def _tolerances(ref: np.ndarray, own: np.ndarray, precision: str) -> dict:
    peak = float(np.max(np.abs(own))) if own.size else 0.0
    bundle_atol = max(1e-4, RELATIVE_SELF_TOLERANCE[precision] * peak)
    build_deviation = float(np.max(np.abs(own.astype(np.float64) - ref)))
    # A device may drift from fp32 as far as the build machine did, twice over, plus its own noise.
    return {"bundle_atol": bundle_atol, "reference_atol": 2.0 * build_deviation + bundle_atol,
            "build_deviation": build_deviation}


def load_vectors(bundle: Path) -> tuple[dict, dict[str, np.ndarray]]:
    index = json.loads((bundle / INDEX).read_text())
    with np.load(bundle / VECTORS, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return index, arrays


def check_vectors(bundle: Path, runner, progress=None) -> list[VectorCheck]:
    """Run every vector through ``runner`` (the bundle's engine on this machine) and compare."""
    index, arrays = load_vectors(bundle)
    checks = []
    for row in index["tasks"]:
        feeds = {name: arrays[key] for name, key in row["inputs"].items()}
        got = runner.infer(feeds)[row["output"]][0].astype(np.float64)
        ref = arrays[row["reference"]]
        ref_dev = float(np.max(np.abs(got - ref)))
        if row.get("bundle"):
            own = arrays[row["bundle"]]
            own_dev = float(np.max(np.abs(got - own)))
            agreement = _agreement(got, own)
            passed = (own_dev <= row["bundle_atol"] and ref_dev <= row["reference_atol"]
                      and agreement >= row["min_agreement"])
            checks.append(VectorCheck(row["task"], row["output"], own_dev, row["bundle_atol"], ref_dev,
                                      row["reference_atol"], agreement, row["min_agreement"], bool(passed)))
        else:  # engine pending: ``runner`` is the portable fp32 ONNX, held to the fp32 reference
            atol = row["portable_atol"]
            checks.append(VectorCheck(row["task"], row["output"], None, None, ref_dev, atol, None,
                                      row["min_agreement"], ref_dev <= atol))
        if progress:
            progress(row["task"], 1)
    return checks


def record_bundle_outputs(bundle: Path, runner, precision: str) -> dict:
    """After an on-device engine build: run the vectors and record them as the bundle's own outputs."""
    index, arrays = load_vectors(bundle)
    outputs = []
    for row in index["tasks"]:
        feeds = {name: arrays[key] for name, key in row["inputs"].items()}
        outputs.append(runner.infer(feeds)[row["output"]][0])
    return replace_bundle_outputs(bundle, outputs, precision)


def replace_bundle_outputs(bundle: Path, outputs: list[np.ndarray], precision: str) -> dict:
    """The vectors' own outputs (one per row, in order) replaced by ``outputs``, computed where the bundle
    will run (the device, or its core emulated), and their tolerances recomputed from them."""
    index, arrays = load_vectors(bundle)
    for row, own in zip(index["tasks"], outputs, strict=True):
        key = row["inputs"][next(iter(row["inputs"]))].split("/")[0] + "/bundle"
        arrays[key] = own
        row.update(_tolerances(arrays[row["reference"]], own, precision), bundle=key)
    np.savez_compressed(bundle / VECTORS, **arrays)
    index["precision"] = precision
    (bundle / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return index
