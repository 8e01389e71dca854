"""The bad inputs and faults that still ended badly (a traceback, exit 0 on a bad bundle, a misleading
message): each ends as one clear line with a non-zero exit and nothing half-written, or runs only when asked
to (``--allow-failed``, ``--force``)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, copy_bundle
from PIL import Image

from edgeus.data.layout import RECORDS_FILE, mask_path_for
from edgeus.data.phantom_cine import cine_frames, write_cine


def _onnx_model(path: Path, inputs: dict[str, list]) -> Path:
    """A small valid ONNX graph with these inputs (name -> shape; a str is a dynamic dimension)."""
    import onnx
    from onnx import TensorProto, helper

    values = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs.items()]
    first = next(iter(inputs))
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", [first], ["y"])], "g", values, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


# --- unreadable or mismatched models before quantize / compile --------------------------------------------------
@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_quantize_an_unreadable_onnx(content, tmp_path, small_phantom, run_cli):
    model = tmp_path / "m.onnx"
    if content == "garbage":
        model.write_bytes(b"\x08\x07 this is not a protobuf \xff\xfe" * 50)
    else:
        good = _onnx_model(tmp_path / "good.onnx", {"image": ["N", 3, 224, 224], "prompt": ["N", 15]}).read_bytes()
        model.write_bytes(good[: len(good) // 2])
    code, _, err = run_cli("quantize", model, "--target", "cpu-x86-scanner", "--data", small_phantom,
                           "-o", tmp_path / "q")
    assert_one_line_error(code, err, "m.onnx", "not a readable ONNX model")
    assert not (tmp_path / "q").exists() and not list(tmp_path.glob(".q-*"))


def test_quantize_an_onnx_whose_image_is_the_wrong_size(tmp_path, small_phantom, run_cli):
    model = _onnx_model(tmp_path / "small.onnx", {"image": ["N", 3, 128, 128], "prompt": ["N", 15]})
    code, _, err = run_cli("quantize", model, "--target", "cpu-x86-scanner", "--data", small_phantom,
                           "-o", tmp_path / "q")
    assert_one_line_error(code, err, "does not match the model spec", "N x 3 x 128 x 128", "batch x 3 x 224 x 224")
    assert not (tmp_path / "q").exists()


def test_compile_a_model_that_does_not_take_the_spec_inputs(tmp_path, run_cli):
    model = _onnx_model(tmp_path / "x.onnx", {"x": ["N", 1, 64, 64]})
    code, _, err = run_cli("compile", model, "--target", "cpu-x86-scanner", "-o", tmp_path / "c")
    assert_one_line_error(code, err, "does not match the model spec", "'image' missing", "x not in the spec")
    assert not (tmp_path / "c").exists()


# --- uusic25 score trusts nothing it reads ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def predicted(x86_bundle, small_phantom, tmp_path_factory) -> Path:
    from edgeus.cli import main

    val = small_phantom / "val"
    pred = tmp_path_factory.mktemp("predicted") / "pred"
    assert main(["uusic25", "predict", str(x86_bundle), "--input-json", str(val / RECORDS_FILE), "--input-dir",
                 str(val), "--output", str(pred)]) == 0
    return pred


def _prediction_folder(predicted: Path, tmp_path: Path) -> Path:
    """A private copy of a good prediction folder that a test may damage."""
    import shutil

    return Path(shutil.copytree(predicted, tmp_path / "pred"))


def test_score_a_classification_json_that_is_a_list(predicted, small_phantom, tmp_path, run_cli):
    pred = _prediction_folder(predicted, tmp_path)
    (pred / "classification.json").write_text(json.dumps([{"probability": [0.5, 0.5]}]))
    code, _, err = run_cli("uusic25", "score", "--pred", pred, "--truth", small_phantom / "val")
    assert_one_line_error(code, err, "classification.json", "expected a JSON object", "got a JSON list")


def test_score_a_mask_of_the_wrong_size(predicted, small_phantom, tmp_path, run_cli):
    pred = _prediction_folder(predicted, tmp_path)
    record = next(r for r in json.loads((small_phantom / "val" / RECORDS_FILE).read_text())
                  if r["task"] == "segmentation")
    Image.fromarray(np.zeros((13, 17), np.uint8)).save(pred / mask_path_for(record["img_path_relative"]))
    code, _, err = run_cli("uusic25", "score", "--pred", pred, "--truth", small_phantom / "val")
    assert_one_line_error(code, err, "the predicted mask is 17x13", "original image size")


# --- a bundle marked failed ---------------------------------------------------------------------------------------
@pytest.fixture
def failed_bundle(x86_bundle, tmp_path) -> Path:
    """The x86 bundle as a build ships its closest plan when no plan passes: marked failed, one gate failed."""
    bundle = copy_bundle(x86_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["passed"] = False
    manifest["verdicts"][0].update(passed=False, state="fail", measured=250.0)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return bundle


def test_verify_names_a_failed_bundle_and_fails_unless_allowed(failed_bundle, run_cli):
    code, _, err = run_cli("verify", failed_bundle)
    assert_one_line_error(code, err, "intact, but marked failed", "latency p95", "250 vs budget 100", "--allow-failed")
    code, out, err = run_cli("verify", failed_bundle, "--allow-failed")
    assert code == 0, err
    assert "marked failed" in out


def test_run_and_predict_refuse_a_failed_bundle_unless_allowed(failed_bundle, small_phantom, tmp_path, run_cli):
    image = next((small_phantom / "val/segmentation/Kidney/imgs").iterdir())
    val = small_phantom / "val"
    code, _, err = run_cli("run", failed_bundle, image, "--dataset", "Kidney", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "is marked failed", "--allow-failed")
    assert not (tmp_path / "m.png").exists()
    code, _, err = run_cli("uusic25", "predict", failed_bundle, "--input-json", val / RECORDS_FILE, "--input-dir", val,
                           "--output", tmp_path / "pred")
    assert_one_line_error(code, err, "is marked failed")
    assert not (tmp_path / "pred").exists()
    code, _, err = run_cli("run", failed_bundle, image, "--dataset", "Kidney", "-o", tmp_path / "m.png",
                           "--allow-failed")
    assert code == 0, err
    assert (tmp_path / "m.png").is_file()


# --- a truncated video ----------------------------------------------------------------------------------------------
def test_a_truncated_video_is_reported_frames_found_against_the_header(x86_bundle, tmp_path, run_cli):
    whole = write_cine(cine_frames("Thyroid", "segmentation", n_frames=24, seed=3), tmp_path / "v.mkv", "mkv")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    code, _, err = run_cli("run", x86_bundle, cut, "--dataset", "Thyroid", "-o", tmp_path / "out")
    assert_one_line_error(code, err, "cut.mkv", "of the 24 frames its header announces", "truncated")
    summary = json.loads((tmp_path / "out/stream.json").read_text())
    assert not summary["complete"] and 0 < summary["frames_done"] < 24
    code, _, err = run_cli("run", x86_bundle, whole, "--dataset", "Thyroid", "-o", tmp_path / "whole")
    assert code == 0, err


# --- a file where a folder belongs: the message tells the truth -----------------------------------------------------
@pytest.mark.parametrize("command", ["pack", "predict", "cine"])
def test_a_file_in_place_of_a_parent_folder_is_named_and_force_is_not_offered(command, x86_bundle, small_phantom,
                                                                             tmp_path, run_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    val = small_phantom / "val"
    args = {"pack": ["pack", x86_bundle, "-o", blocker / "b.tar.gz"],
            "predict": ["uusic25", "predict", x86_bundle, "--input-json", val / RECORDS_FILE, "--input-dir", val,
                        "--output", blocker / "sub"],
            "cine": ["data", "cine", blocker / "sub", "--frames", "2"]}[command]
    for force in ([], ["--force"]):
        code, _, err = run_cli(*args, *force)
        assert_one_line_error(code, err, "a file stands where a folder is expected")
        assert "pass --force" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# --- compare verifies what it reads ---------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["changed model", "escaping path"])
def test_compare_refuses_a_bundle_that_does_not_match_its_manifest(damage, x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    if damage == "changed model":
        model = bundle / manifest["engine"]["model"]
        model.with_suffix(".bin").write_bytes(model.with_suffix(".bin").read_bytes()[:-4] + b"\0\0\0\0")
        needle = "changed"
    else:
        manifest["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 1}
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        needle = "../outside.txt"
    code, _, err = run_cli("compare", x86_bundle, bundle, "-o", tmp_path / "cmp")
    assert_one_line_error(code, err, "does not match its manifest", needle)
    assert not (tmp_path / "cmp").exists()


def test_verify_says_in_words_why_a_manifest_path_is_refused(x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 1}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "'../outside.txt' is not a relative path inside the bundle")
    assert "(?!" not in err and "^" not in err


# --- numbers on the command line are held to the profiles' bounds ---------------------------------------------------
@pytest.mark.parametrize(("option", "value", "needle"), [("--threads", "100000", "at most 1024"),
                                                         ("--workers", "5000", "at most 1024"),
                                                         ("--fps", "1e6", "at most 10000")])
def test_absurd_numbers_on_the_command_line(option, value, needle, x86_bundle, tmp_path, run_cli):
    code, _, err = run_cli("run", x86_bundle, tmp_path, "--dataset", "Thyroid", "-o", tmp_path / "o", option, value)
    assert_one_line_error(code, err, option, needle)
    assert not (tmp_path / "o").exists()


# --- sign does not silently replace another key's signature ---------------------------------------------------------
def test_sign_refuses_to_replace_another_keys_signature_without_force(x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    for name in ("vendor", "other"):
        assert run_cli("keygen", tmp_path / name)[0] == 0
    assert run_cli("sign", bundle, "--key", tmp_path / "vendor")[0] == 0
    signed = (bundle / "manifest.sig").read_bytes()
    code, _, err = run_cli("sign", bundle, "--key", tmp_path / "other")
    assert_one_line_error(code, err, "already signed by another key", "--force")
    assert (bundle / "manifest.sig").read_bytes() == signed
    assert run_cli("sign", bundle, "--key", tmp_path / "vendor")[0] == 0  # the same key signs again freely
    code, _, err = run_cli("sign", bundle, "--key", tmp_path / "other", "--force")
    assert code == 0, err
    assert run_cli("verify", bundle, "--pubkey", tmp_path / "other.pub")[0] == 0


# --- a duplicate member in a bundle archive -------------------------------------------------------------------------
def test_an_archive_with_a_member_twice_is_refused_whole(x86_bundle, tmp_path, run_cli):
    archive = tmp_path / "dup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(x86_bundle, arcname="b")
        extra = tmp_path / "evil.json"
        extra.write_text("{}")
        tar.add(extra, arcname="b/manifest.json")  # a second manifest.json, after the genuine one
    code, _, err = run_cli("unpack", archive, "-o", tmp_path / "dest")
    assert_one_line_error(code, err, "unsafe archive", "'b/manifest.json' is in it twice")
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())
