"""The vendor runtime: numpy + Pillow + the bundle's backend, nothing from the build side.

Each test runs in a fresh interpreter where torch, NNCF, pydantic, ONNX, SciPy, scikit-learn and matplotlib
cannot be imported at all (``sys.modules[name] = None`` makes their import fail), which is what a scanner
with only ``pip install edgeus[openvino]`` / ``[onnxruntime]`` has.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import assert_one_line_error

from edgeus.data.uusic25 import read_dataset

BUILD_SIDE = ("torch", "nncf", "pydantic", "onnx", "onnxslim", "safetensors", "scipy", "sklearn", "skimage",
              "matplotlib", "jsonschema", "tensorrt")


def _run(code: str, block: tuple[str, ...] = BUILD_SIDE) -> subprocess.CompletedProcess:
    prelude = f"import sys\nfor m in {block!r}:\n    sys.modules[m] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=300)


def _allowances(bundle) -> dict:
    """Per task, how far this machine's outputs may be from the vectors: their tolerance, or, where the vectors
    hold an emulated ARM core's outputs, how far the build (this machine's kernels) measured it was from them."""
    on_target = json.loads((bundle / "manifest.json").read_text())["conformance"].get("on_target") or {}
    return {r["task"]: r["build_machine_vs_core"] + 1e-4 for r in on_target.get("recorded_on_core", [])}


def _check_vectors_code(bundle) -> str:
    return f"""
import json, numpy as np
from edgeus.runtime import load
bundle = load({str(bundle)!r})
index = json.load(open({str(bundle / 'conformance/vectors.json')!r}))
data = np.load({str(bundle / 'conformance/vectors.npz')!r})
worst = {{}}
for row in index["tasks"]:
    got = bundle.infer({{k: data[v] for k, v in row["inputs"].items()}})[row["output"]][0]
    dev = float(np.max(np.abs(got - data[row["bundle"]])))
    assert dev <= max(row["bundle_atol"], {_allowances(bundle)!r}.get(row["task"], 0)), (row["task"], dev)
    worst[row["task"]] = dev
bundle.close()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BUILD_SIDE!r} and sys.modules[m] is not None)
print(json.dumps({{"worst": worst, "loaded": loaded}}))
"""


def test_runtime_matches_conformance_vectors_without_torch(x86_bundle, arm_bundle):
    for bundle in (x86_bundle, arm_bundle):
        result = _run(_check_vectors_code(bundle))
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["loaded"] == []
        assert len(report["worst"]) == 10


def test_predict_image_matches_validation_path(x86_bundle, small_phantom):
    """predict() through the bundle's own preprocessing gives the same mask/probabilities as edgeus's evaluator."""
    from edgeus.backends.registry import open_runner
    from edgeus.evidence.evaluate import predict
    from edgeus.models import model_spec

    samples = read_dataset(small_phantom / "val").samples
    seg = next(s for s in samples if s.task.key == "Thyroid/segmentation")
    cls = next(s for s in samples if s.task.key == "Breast_luminal/classification")
    code = f"""
import json, numpy as np
from PIL import Image
from edgeus.runtime import load
with load({str(x86_bundle)!r}) as b:
    mask = b.predict({str(seg.image_path)!r}, "Thyroid", "segmentation")
    probs = b.predict(open({str(cls.image_path)!r}, "rb").read(), "Breast_luminal", "classification")
    arr = b.predict(np.asarray(Image.open({str(cls.image_path)!r}).convert("RGB")), "Breast_luminal", "classification")
print(json.dumps({{"mask_sum": int(mask.sum()), "shape": list(mask.shape), "values": sorted(set(np.unique(mask).tolist())),
                  "probs": probs.tolist(), "same": bool(np.allclose(probs, arr))}}))
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    spec = model_spec("uniusnet")
    with open_runner(x86_bundle / "model") as runner:
        ref = predict(runner, spec, [seg, cls])
    expected_mask = ref["Thyroid/segmentation"].masks[0]
    assert got["shape"] == list(expected_mask.shape) and set(got["values"]) <= {0, 255}
    assert got["mask_sum"] == int(expected_mask.sum())
    assert np.allclose(got["probs"], ref["Breast_luminal/classification"].probabilities[0], atol=1e-6)
    assert len(got["probs"]) == 4 and got["same"]


def test_bundle_for_a_backend_that_is_not_installed(x86_bundle, arm_bundle):
    result = _run(f"from edgeus.cli import main\nraise SystemExit(main(['run', {str(x86_bundle)!r}, 'x.png', "
                  "'--dataset', 'Breast', '-o', 'm.png']))", block=(*BUILD_SIDE, "openvino"))
    assert_one_line_error(result.returncode, result.stderr, "runs on openvino, which is not installed",
                          "pip install 'edgeus[openvino]'")
    result = _run(f"from edgeus.runtime import load\nload({str(arm_bundle)!r})", block=(*BUILD_SIDE, "onnxruntime"))
    assert result.returncode != 0 and "runs on onnxruntime, which is not installed" in result.stderr


def test_run_cli_mask_and_probabilities(x86_bundle, small_phantom, tmp_path, run_cli):
    image = next((small_phantom / "val/segmentation/Kidney/imgs").iterdir())
    code, out, _ = run_cli("run", x86_bundle, image, "--dataset", "Kidney", "--task", "segmentation",
                           "-o", tmp_path / "mask.png")
    assert code == 0 and "foreground pixels" in out
    from PIL import Image

    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.shape == np.asarray(Image.open(image)).shape[:2] and set(np.unique(mask)) <= {0, 255}
    code, out, _ = run_cli("run", x86_bundle, image, "--dataset", "Liver", "--task", "classification")
    payload = json.loads(out)
    assert code == 0 and abs(sum(payload["probability"]) - 1) < 1e-9 and payload["prediction"] in (0, 1)


def test_run_bad_input_is_one_line(x86_bundle, tmp_path, run_cli):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, _, err = run_cli("run", x86_bundle, broken, "--dataset", "Breast", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "broken.png", "cannot decode image")
    assert not (tmp_path / "m.png").exists()
    code, _, err = run_cli("run", x86_bundle, broken, "--dataset", "Spleen", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "no task Spleen/segmentation")
    (tmp_path / "exists.png").write_bytes(b"keep")
    code, _, err = run_cli("run", x86_bundle, broken, "--dataset", "Breast", "-o", tmp_path / "exists.png")
    assert_one_line_error(code, err, "--force")
    assert (tmp_path / "exists.png").read_bytes() == b"keep"
