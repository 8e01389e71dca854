"""The plan search measures every candidate under shifts where the profile gates robustness: an INT8 model
whose activation ranges were calibrated on bright images only (the phantom's native ``gain_up``) passes every
clean gate and is rejected by the gain family's gate, naming the task and severity; int8-auto, whose float
scope search keeps the convolution that mixes brightness into Liver's logits in float, holds and ships. The same
model calibrated on ordinary images holds in full INT8 (tests/toymodels.py GainFragileNet says why)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from conftest import TESTS

from edgeus.contracts.profiles import RobustnessBudget, load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.pipeline.context import PlanState
from edgeus.pipeline.flow import BuildOptions, build

MODEL = "toymodels:gain_fragile_net"
SPEC = TESTS / "gain_fragile_spec.toml"


def _data(root: Path, calibration_shift: dict) -> Path:
    """12 validation images per task row, ordinary; the calibration (train) split acquired under ``calibration_shift``."""
    generate_phantom(root, per_task=12, seed=5, splits=("val",))
    generate_phantom(root.with_name(root.name + "-train"), per_task=4, seed=3, splits=("train",), shift=calibration_shift)
    shutil.move(root.with_name(root.name + "-train") / "train", root / "train")
    return root


def _build(data: Path, out: Path):
    sys.path.insert(0, str(TESTS))  # the factory model lives in tests/toymodels.py
    scanner = load_profile("cpu-x86-scanner")
    # speed budgets opened up (an accuracy test on a shared 2-core machine); a short scope search
    budgets = scanner.budgets.model_copy(update={"latency_p95_ms": 600_000.0, "min_fps": 0.001,
                                                 "robustness": RobustnessBudget(families=["gain"], max_severity=3)})
    quantization = scanner.quantization.model_copy(update={"scope_max_blocks": 4})
    options = BuildOptions(model=MODEL, spec_file=str(SPEC), data=data, out=out, threads=2, profile_min_iters=5,
                           profile_min_duration_s=0.2)
    # OpenVINO's plans alone: the subject is its float scope under shift (a toy this small runs fastest in ONNX
    # Runtime fp32, which would ship; runtimes weighed side by side: tests/pipeline/test_plan_search.py)
    return build(scanner.model_copy(update={"budgets": budgets, "quantization": quantization, "backends": []}),
                 options)


@pytest.fixture(scope="module")
def bright(tmp_path_factory):
    root = tmp_path_factory.mktemp("bright")
    return _build(_data(root / "ph", {"gain_up": 5}), root / "out")


def test_int8_calibrated_on_bright_images_passes_clean_gates_and_fails_under_gain(bright):
    runs = {r.plan.name: r for r in bright.plans.runs}
    int8 = runs["int8"]
    assert int8.state is PlanState.rejected
    clean = [v for v in int8.verdicts if not v.item.startswith("robustness") and v.state == "fail"]
    assert clean == [] and int8.accuracy.passed  # every clean accuracy gate passes
    gain = next(v for v in int8.verdicts if v.item.startswith("robustness: gain"))
    assert gain.state == "fail" and gain.measured > 0.3
    assert int8.reason.startswith("robustness: gain (severity <= 3)")
    assert "Liver/classification" in int8.reason and "at severity" in int8.reason
    worst = max((d for d in int8.robustness["drops"] if d["extra_drop"] is not None), key=lambda d: d["extra_drop"])
    assert worst["task"] == "Liver/classification" and worst["family"] == "gain" and worst["severity"] <= 3
    assert worst["candidate_clean"] == worst["reference_clean"]  # clean, the plan equals fp32 on Liver


def test_the_plan_with_the_fragile_layer_in_float_holds_and_ships(bright):
    chosen = bright.plans.chosen
    assert chosen.plan.name == "int8-auto" and chosen.search["float_blocks"] == ["/amplifier"] and bright.passed
    assert bright.robustness is chosen.robustness and bright.robustness["passed"]
    assert any(v.item.startswith("robustness: gain") and v.state == "pass" for v in bright.verdicts)
    rows = {r.plan.name: r.row() for r in bright.plans.runs}
    assert rows["int8"]["robustness_passed"] is False and rows["fp32"]["robustness_passed"] is True
    assert (bright.run_dir / "robustness.json").is_file()


@pytest.mark.slow
def test_the_same_model_calibrated_on_ordinary_images_holds(tmp_path):
    result = _build(_data(tmp_path / "ph", {}), tmp_path / "out")
    int8 = next(r for r in result.plans.runs if r.plan.name == "int8")
    assert int8.robustness["passed"] and int8.state is not PlanState.rejected
