"""An iPad / iPhone build on this (non-Apple) machine: the default model converted to a Core ML package with INT8
weights, its torch-side simulation validated per task (and named for what it is), the bundle marked pending on
a Mac with the recipe and the portable fp32 ONNX, verified as far as it can be here (files, the vectors on the
portable model); `edgeus finalize` says in one line that it needs macOS and changes nothing (on a Mac it checks
the package with Core ML and marks the bundle ready: the macOS test)."""

from __future__ import annotations

import json
import platform
import shutil

import pytest
from conftest import assert_one_line_error, tree_digest

pytest.importorskip("coremltools", reason="the coreml extra is not installed (pip install 'edgeus[coreml]')")

from edgeus.bundle.verify import verify  # noqa: E402
from edgeus.contracts.profiles import load_profile  # noqa: E402
from edgeus.pipeline.flow import BuildOptions, build  # noqa: E402

PROFILE = "tablet-ios-a17pro"


@pytest.fixture(scope="module")
def ios(small_phantom, tmp_path_factory):
    """The w8a8 plan (the profile's default is w8: weight-only, data-free): it goes through everything w8 does,
    and carries the calibration images its activations are quantized on at the Mac."""
    out = tmp_path_factory.mktemp("ios")
    options = BuildOptions(data=small_phantom, out=out, threads=2, profile_min_iters=5, profile_min_duration_s=0.2,
                           robustness=False, plan="w8a8")
    return build(load_profile(PROFILE), options)


def test_the_bundle_is_pending_on_a_mac_with_the_package_and_the_recipe(ios):
    assert ios.stopped_after == "engine pending" and ios.run_dir.name.endswith("-w8a8")
    manifest = json.loads((ios.run_dir / "manifest.json").read_text())
    engine = manifest["engine"]
    assert engine["backend"] == "coreml" and engine["status"] == "pending" and engine["model"] is None
    package = ios.run_dir / engine["build_input"]
    assert package.name == "model.mlpackage" and package.is_dir() and any(package.rglob("*.bin"))
    recipe = json.loads((ios.run_dir / engine["recipe"]).read_text())
    assert "macOS" in recipe["where"] and any(step.startswith("edgeus finalize") for step in recipe["steps"])
    assert "linear_quantize_activations" in recipe["w8a8"]
    # the images the Mac calibrates the activations on, as predict takes them
    import numpy as np

    with np.load(package.parent / "calibration.npz") as calibration:
        names = {key.split("/", 1)[1] for key in calibration.files}
        assert names == {"image", "prompt"} and 1 < len(calibration.files) // 2 <= 32
        assert calibration["0/image"].shape == (1, 3, 224, 224)
    assert manifest["calibration"]["samples"] > 0  # the plan the images were drawn from, recorded
    # no claim about the Core ML model itself: the accuracy is the simulation's, and it says so
    assert "simulation" in engine["evidence"] and manifest["performance"] is None
    assert any("torch-side simulation" in note for note in ios.notes)
    assert manifest["evidence_isa"]["runtime"] == "coreml"
    tasks = {v["item"] for v in manifest["verdicts"]}
    assert any("worst-task" in item for item in tasks)  # per-task gates on the simulation


def test_verified_as_far_as_it_can_be_here(ios):
    report = verify(ios.run_dir, threads=2)
    assert report.passed, report.first_problem()
    assert report.engine_status == "pending" and report.backend == "coreml" and report.vectors


@pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS finalize goes on to Core ML")
def test_finalize_off_macos_is_one_line_and_changes_nothing(ios, run_cli):
    before = tree_digest(ios.run_dir)
    code, _, err = run_cli("finalize", ios.run_dir)
    assert_one_line_error(code, err, "cannot finalize", "finalized on macOS")
    assert tree_digest(ios.run_dir) == before


def test_the_pending_package_cannot_run_and_says_where_it_is_checked(ios, small_phantom, tmp_path, run_cli):
    image = next((small_phantom / "val/segmentation/Breast/imgs").iterdir())
    code, _, err = run_cli("run", ios.run_dir, image, "--dataset", "Breast", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "Core ML package is pending", "model/recipe.json")
    assert not (tmp_path / "m.png").exists()


@pytest.mark.skipif(platform.system() != "Darwin", reason="Core ML predicts only on macOS")
def test_finalize_on_macos_checks_the_package_with_core_ml_and_marks_it_ready(ios, small_phantom, tmp_path, run_cli):
    bundle = tmp_path / ios.run_dir.name
    shutil.copytree(ios.run_dir, bundle)
    code, out, err = run_cli("finalize", bundle, "--data", small_phantom, "--threads", "2")
    assert code in (0, 2), err  # 2: a gate failed on the Mac (it says which); the checks below hold either way
    manifest = json.loads((bundle / "manifest.json").read_text())
    engine = manifest["engine"]
    assert engine["status"] == "ready" and engine["model"] == engine["build_input"]
    assert engine["device"]["os"].startswith("macOS") and "not" in engine["evidence"]  # the Mac's, not the iPad's
    assert manifest["performance"]["p50_ms"] > 0 and "coremltools" in manifest["toolchain"]
    speed = next(v for v in manifest["verdicts"] if v["item"].startswith("latency p95"))
    assert speed["state"] == "inconclusive"  # timed on the Mac, not on the profile's device
    report = verify(bundle, threads=2)
    assert report.passed and report.engine_status == "ready", report.first_problem()
    assert "checked with Core ML on" in out
