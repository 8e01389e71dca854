"""Golden vectors for ports: the bundle's pre- and postprocessing as input/output pairs a C/C++ port checks.

A vendor without Python re-implements three small functions: the corner-aligned resize + centre crop
(image -> input tensor), the mask mapping (segmentation logits -> mask at the frame's own size) and the
softmax. ``conformance/golden.npz`` holds, for several frame sizes and aspect ratios (square, landscape,
portrait, odd sizes, extreme aspect, smaller and larger than the model input):

* ``pre/<W>x<H>/image`` (uint8 H x W x 3) -> ``pre/<W>x<H>/tensor`` (float32, the model's input layout);
* ``mask/<W>x<H>/logits`` (float32 2 x S x S) -> ``mask/<W>x<H>/<mapping>`` (uint8 H x W, 0/255) for the
  bundle's mapping and the challenge container's ``stretch``;
* ``softmax/<n>/logits`` -> ``softmax/<n>/probabilities`` (float64);

and for every task row of the bundle, one real image carried end to end: ``task<i>/image`` -> the tensor in
the conformance vectors (``conformance/vectors.npz``, not stored twice) -> the bundle's own logits there ->
``task<i>/output`` (mask or probabilities), so a port checks its whole chain per task. ``conformance/golden.json`` indexes them with tolerances; docs/PORTING.md
explains the arithmetic. Logits here never tie (argmax is exact), so masks must match bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeus.contracts.preprocess import Preprocessing, mask_to_original, preprocess, read_image, softmax

GOLDEN, GOLDEN_INDEX = "conformance/golden.npz", "conformance/golden.json"
# (width, height): 4:3 landscape and portrait, odd sizes, extreme aspect, smaller than the input. Each
# expected tensor is 600 kB of incompressible float32, so five sizes, not every size a scanner has.
FRAME_SIZES = ((320, 240), (240, 320), (257, 193), (500, 150), (160, 120))
# float32 tensor values are in [0, 1]: a port computing in float32 instead of float64 stays within ~2e-7
TENSOR_ATOL = 1e-5
PROBABILITY_ATOL = 1e-9


def _frame(width: int, height: int) -> np.ndarray:
    """A deterministic frame whose every pixel differs from its neighbours (an off-by-one tap shows)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = [(x * 7 + y * 13) % 256, (x * 3 + y * 5) % 256, (x ^ y) % 256]
    return np.stack(rgb, axis=2).astype(np.uint8)


def _logits(size: int, seed: int) -> np.ndarray:
    """Blobby 2-class logits on a 1/64 grid, foreground minus background never 0 (no argmax ties)."""
    y, x = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(seed)
    field = sum(np.sin(2 * np.pi * (f1 * x + f2 * y) + ph) for f1, f2, ph in rng.uniform(0.5, 3, (4, 3)))
    diff = np.round(field * 64) / 64 + 1 / 128
    return np.stack([np.zeros_like(diff), diff]).astype(np.float32)


def make_golden(out_dir: Path, pre: Preprocessing, mapping: str, tasks: list[dict]) -> dict:
    """``tasks``: per task row {key, kind, image_path, tensor and logits: their keys in vectors.npz (the logits
    are the bundle's own, or the fp32 reference's while the engine is pending)}."""
    from edgeus.bundle.conformance import VECTORS, load_vectors

    _, vectors = load_vectors(out_dir)
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for width, height in FRAME_SIZES:
        name = f"{width}x{height}"
        image = _frame(width, height)
        arrays[f"pre/{name}/image"], arrays[f"pre/{name}/tensor"] = image, preprocess(image, pre)
        cases.append({"kind": "preprocess", "size": [width, height], "input": f"pre/{name}/image",
                      "expected": f"pre/{name}/tensor", "atol": TENSOR_ATOL})
        logits = _logits(pre.size, seed=width * 1000 + height)
        arrays[f"mask/{name}/logits"] = logits
        for m in dict.fromkeys((mapping, "stretch")):
            arrays[f"mask/{name}/{m}"] = mask_to_original(logits, width, height, m, pre)
            cases.append({"kind": "mask", "mapping": m, "size": [width, height], "input": f"mask/{name}/logits",
                          "expected": f"mask/{name}/{m}", "atol": 0})
    for n in (2, 4):
        logits = np.random.default_rng(n).normal(0, 4, n).astype(np.float32)
        arrays[f"softmax/{n}/logits"], arrays[f"softmax/{n}/probabilities"] = logits, softmax(logits.astype(np.float64))
        cases.append({"kind": "softmax", "input": f"softmax/{n}/logits", "expected": f"softmax/{n}/probabilities",
                      "atol": PROBABILITY_ATOL})
    for i, task in enumerate(tasks):
        image = read_image(task["image_path"])
        height, width = image.shape[:2]
        if not np.array_equal(preprocess(image, pre), vectors[task["tensor"]][0]):
            raise ValueError(f"golden {task['key']}: the conformance tensor is not this image's")  # a build bug
        logits = vectors[task["logits"]]
        output = (mask_to_original(logits, width, height, mapping, pre) if task["kind"] == "segmentation"
                  else softmax(logits.astype(np.float64)))
        arrays[f"task{i}/image"], arrays[f"task{i}/output"] = image, output
        cases.append({"kind": "task", "task": task["key"], "task_kind": task["kind"], "size": [width, height],
                      "mapping": mapping if task["kind"] == "segmentation" else None, "image": f"task{i}/image",
                      "tensor": f"{VECTORS}:{task['tensor']}", "logits": f"{VECTORS}:{task['logits']}",
                      "expected": f"task{i}/output", "tensor_atol": TENSOR_ATOL,
                      "atol": 0 if task["kind"] == "segmentation" else PROBABILITY_ATOL})
    (out_dir / Path(GOLDEN).parent).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / GOLDEN, **arrays)
    index = {"preprocessing": pre.to_dict(), "mask_mapping": mapping, "cases": cases,
             "note": "see docs/PORTING.md: image -> tensor within atol element-wise; logits -> mask exactly; "
                     "logits -> probabilities within atol. 'FILE:key' names an array in another file of the bundle"}
    (out_dir / GOLDEN_INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return index


def check_golden(bundle: Path) -> list[str]:
    """Run this runtime's own pre/postprocessing over the golden vectors; the problems found (none: [])."""
    path = bundle / GOLDEN_INDEX
    if not path.is_file():
        return []  # bundles from before golden vectors existed
    from edgeus.bundle.conformance import load_vectors

    index = json.loads(path.read_text())
    pre = Preprocessing.from_dict(index["preprocessing"])
    _, vectors = load_vectors(bundle)
    problems = []
    with np.load(bundle / GOLDEN, allow_pickle=False) as data:
        for case in index["cases"]:
            want = data[case["expected"]]
            if case["kind"] == "preprocess":
                got = preprocess(data[case["input"]], pre)
            elif case["kind"] == "mask":
                width, height = case["size"]
                got = mask_to_original(data[case["input"]], width, height, case["mapping"], pre)
            elif case["kind"] == "softmax":
                got = softmax(data[case["input"]].astype(np.float64))
            else:
                width, height = case["size"]
                tensor = preprocess(data[case["image"]], pre)
                expected_tensor = vectors[case["tensor"].split(":", 1)[1]][0]
                if tensor.shape != expected_tensor.shape or np.max(np.abs(tensor - expected_tensor)) > case["tensor_atol"]:
                    problems.append(f"golden {case['task']}: image -> tensor differs")
                logits = vectors[case["logits"].split(":", 1)[1]]
                got = (mask_to_original(logits, width, height, case["mapping"], pre)
                       if case["task_kind"] == "segmentation" else softmax(logits.astype(np.float64)))
            if got.shape != want.shape or np.max(np.abs(got.astype(np.float64) - want)) > case["atol"]:
                problems.append(f"golden {case['kind']} {case.get('task') or case.get('size')}: output differs")
    return problems
