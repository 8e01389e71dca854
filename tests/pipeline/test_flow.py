"""edgeus build end to end on a small phantom set: stages, caching, resume after a kill, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TESTS, seed_stages

from edgeus.contracts.profiles import load_profile
from edgeus.errors import OutputExistsError
from edgeus.pipeline.flow import BuildOptions, build

STAGES = ["export", "quantize", "compile", "validate", "profile", "robustness"]


def _options(phantom: Path, out: Path, force: bool = False, robustness: bool = False) -> BuildOptions:
    # one plan (the spec's hint scope): these tests are about the flow; tests/pipeline/test_plan_search.py searches.
    # Robustness only where a test follows every stage (tests/pipeline/test_robustness_build.py has the rest)
    return BuildOptions(data=phantom, out=out, threads=2, profile_min_iters=5, profile_min_duration_s=0.2, force=force,
                        plan="int8-hint", robustness=robustness)


def test_build_runs_every_stage_then_reuses_them(small_phantom, tmp_path):
    phantom = small_phantom
    profile = load_profile("cpu-arm-handheld")
    first = build(profile, _options(phantom, tmp_path, robustness=True))
    assert [s.name for s in first.stages] == STAGES and not any(s.cached for s in first.stages)
    run = first.run_dir
    assert run.name == "uniusnet-small-cpu-arm-handheld-int8-hint"
    for name in ("accuracy.json", "perf.json", "verdicts.json", "model/compile.json", "manifest.json", "report.html",
                 "report.md", "conformance/vectors.npz"):
        assert (run / name).is_file(), name
    accuracy = json.loads((run / "accuracy.json").read_text())
    assert set(accuracy["splits"]) == {"internal", "external"}
    assert len(accuracy["splits"]["internal"]["tasks"]) == 9  # the challenge's tasks (Breast_all pooled)
    verdicts = json.loads((run / "verdicts.json").read_text())
    assert verdicts["passed"] == first.passed
    with pytest.raises(OutputExistsError, match="--force"):
        build(profile, _options(phantom, tmp_path, robustness=True))  # a bundle is never replaced silently
    again = build(profile, _options(phantom, tmp_path, force=True, robustness=True))
    assert all(s.cached for s in again.stages)
    assert [s.key for s in again.stages] == [s.key for s in first.stages]


def _cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.Popen([sys.executable, "-m", "edgeus", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


def test_killed_build_resumes_from_finished_stages(small_phantom, x86_bundle, tmp_path):
    args = ["build", "--target", "cpu-x86-scanner", "--data", str(small_phantom), "-o", str(tmp_path), "--threads",
            "2", "--plan", "int8-hint", "--no-robustness"]
    seed_stages(x86_bundle, tmp_path, ("export",))  # the session's export: this run starts at quantize
    stages = tmp_path / ".edgeus-cache"
    proc = _cli(args)
    deadline = time.time() + 300
    while time.time() < deadline and not list(stages.glob("quantize-*/stage.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    killed_out, killed_err = proc.communicate()
    # quantization ran in that process (NNCF): its INFO lines went to the log, not the console
    assert "INFO" not in killed_out + killed_err and "nncf" not in killed_out + killed_err
    finished = sorted(p.name.split("-")[0] for p in stages.glob("*-*") if (p / "stage.json").is_file())
    assert "export" in finished and "quantize" in finished and "profile" not in finished
    proc = _cli(args)
    out, err = proc.communicate(timeout=600)
    manifest = json.loads((tmp_path / "uniusnet-small-cpu-x86-scanner-int8-hint/manifest.json").read_text())
    assert proc.returncode == (0 if manifest["passed"] else 2), err  # the exit code is the bundle's verdict
    assert "taking over a stale lock" in err  # the killed build's lock
    assert "export: reused cached stage" in err and "int8-hint: quantize reused" in err
    assert "validate done in" in err  # one line per plan in a log (not a terminal)
    assert not list(stages.glob(".*"))  # the killed run's temporary folder was cleaned up


def test_build_bad_input_is_one_line(tmp_path, run_cli):
    from conftest import assert_one_line_error

    code, _, err = run_cli("build", "--target", "cpu-x86-scanner", "--data", tmp_path / "missing", "-o", tmp_path / "o")
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_cli("build", "--target", "nope", "-o", tmp_path / "o")
    assert_one_line_error(code, err, "unknown profile")


def test_changed_image_pixels_rerun_validation_and_the_manifest_names_the_source(small_phantom, arm_bundle, tmp_path):
    import shutil

    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(small_phantom, data)
    seed_stages(arm_bundle, tmp_path / "out")  # the session's ARM build of the same data and options
    profile = load_profile("cpu-arm-handheld")
    first = build(profile, _options(data, tmp_path / "out"))
    assert all(s.cached for s in first.stages)
    manifest = json.loads((first.run_dir / "manifest.json").read_text())
    source = manifest["data"]
    assert source["source"] == "phantom" and source["synthetic"] and source["seed"] == 5
    assert source["images"]["internal"]["Liver/classification"] == 2 and len(source["content_sha256"]) == 64
    assert "Evidence is synthetic" in (first.run_dir / "report.md").read_text().split("##")[0]
    log = (first.run_dir / "build.log").read_text()
    assert "build.log" in manifest["files"] and str(tmp_path) not in log
    # one validation image, same name, different pixels
    image = next((data / "val/segmentation/Kidney/imgs").iterdir())
    pixels = np.asarray(Image.open(image)).copy()
    pixels[:8] = 255 - pixels[:8]
    Image.fromarray(pixels).save(image)
    again = build(profile, _options(data, tmp_path / "out", force=True))
    cached = {s.name: s.cached for s in again.stages}
    assert cached == {"export": True, "quantize": True, "compile": True, "validate": False, "profile": True}
    changed = json.loads((again.run_dir / "manifest.json").read_text())["data"]["content_sha256"]
    assert changed != source["content_sha256"]


def test_a_second_build_into_the_same_folder_is_refused_and_the_first_finishes(small_phantom, arm_bundle, tmp_path,
                                                                              run_cli):
    from conftest import assert_one_line_error

    from edgeus.bundle.verify import verify

    args = ["build", "--target", "cpu-arm-handheld", "--data", str(small_phantom), "-o", str(tmp_path), "--threads",
            "2", "--plan", "int8-hint", "--no-robustness"]
    seed_stages(arm_bundle, tmp_path)  # cached stages: the lock is held through the bundle tail all the same
    first = _cli(args)
    deadline = time.time() + 300
    while time.time() < deadline and not (tmp_path / ".edgeus.lock").exists():
        time.sleep(0.1)
    code, _, err = run_cli(*args)  # the report: 12 s apart; here as soon as the first holds the lock
    assert_one_line_error(code, err, "being written by another edgeus build", f"pid {first.pid}")
    out, err = first.communicate(timeout=600)
    bundle = tmp_path / "uniusnet-small-cpu-arm-handheld-int8-hint"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert first.returncode == (0 if manifest["passed"] else 2), err
    assert verify(bundle).passed and not (tmp_path / ".edgeus.lock").exists()
