"""Plan search end to end: a model with no scope hints whose full INT8 breaks one task gets a float scope that
saves it, the fastest passing plan ships, and a build no plan can pass exits 2 naming the closest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TESTS, assert_one_line_error

from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR, load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.pipeline.flow import BuildOptions, build

MODEL = "toymodels:fragile_luminal_net"
SPEC = TESTS / "fragile_luminal_spec.toml"
SCOPE_BLOCKS = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    # 12 images per task row: 6 search, 6 confirm; enough for a gate to *fail* (a paired interval above zero).
    # No external split: these tests are about the internal search / confirm halves (it only confirms).
    import shutil

    root = tmp_path_factory.mktemp("plans") / "ph12"
    generate_phantom(root, per_task=12, seed=5)
    shutil.rmtree(root / "external")
    return root


@pytest.fixture(scope="module")
def searched(data, tmp_path_factory):
    import sys

    sys.path.insert(0, str(TESTS))  # the factory model lives in tests/toymodels.py
    out = tmp_path_factory.mktemp("plans-out")
    options = BuildOptions(model=MODEL, spec_file=str(SPEC), data=data, out=out, threads=2, profile_min_iters=5,
                           profile_min_duration_s=0.2, robustness=False)  # the plans are this test's subject
    # speed budgets opened up: a shared 2-core machine must not decide an accuracy test by a wall-clock budget
    # and a coarse scope search (the top-level modules, two evaluations each): the broken head is one of them
    scanner = load_profile("cpu-x86-scanner")
    budgets = scanner.budgets.model_copy(update={"latency_p95_ms": 600_000.0, "min_fps": 0.001})
    quantization = scanner.quantization.model_copy(update={"scope_max_blocks": SCOPE_BLOCKS})
    return build(scanner.model_copy(update={"budgets": budgets, "quantization": quantization}), options), out


def test_full_int8_breaks_one_task_and_the_automatic_scope_brings_it_back(searched):
    result, _ = searched
    runs = {r.plan.name: r for r in result.plans.runs}
    # Tiger Lake: no bf16 plans; ONNX Runtime's beside OpenVINO's (the profile allows both runtimes)
    assert set(runs) == {"fp32", "int8", "int8-auto", "ort-fp32", "ort-int8"}
    # no scope hints in its spec: int8-hint would be int8 again, built and timed twice for nothing
    assert "the same model as int8" in result.plans.excluded["int8-hint"]
    assert "the same model as ort-int8" in result.plans.excluded["ort-int8-hint"]
    broken = runs["int8"]
    assert broken.state == "rejected"
    failing = [v.item for v in broken.verdicts if v.state == "fail"]
    assert any("Breast_luminal/classification" in item for item in failing), failing
    assert not any("segmentation" in item for item in failing)  # only the one task broke
    auto = runs["int8-auto"]
    assert auto.search["float_blocks"] == ["/amplifier"] and auto.search["within"]
    assert auto.passed and auto.accuracy.passed
    luminal = auto.accuracy.splits["internal"].tasks["Breast_luminal/classification"]
    assert luminal.metrics["auc"].state == "pass"  # within budget on the held-out confirm part
    # the shipped plan is the fastest that passes every gate
    passing = [r for r in result.plans.runs if r.passed]
    assert result.plans.chosen is min(passing, key=lambda r: r.timing["median_ms"])
    assert result.passed and result.run_dir.name == f"fragile-luminal-cpu-x86-scanner-{result.plans.chosen.plan.name}"


def test_the_bundle_carries_the_plans_the_scope_trace_and_the_stage_ledger(searched):
    result, _ = searched
    plans = json.loads((result.run_dir / "plans.json").read_text())
    assert plans["chosen"] == result.plans.chosen.plan.name
    assert {p["plan"] for p in plans["plans"]} == {"fp32", "int8", "int8-auto", "ort-fp32", "ort-int8"}
    assert "int8-hint" in plans["excluded"]
    trace = plans["scope_search"]
    assert trace["steps"][0]["phase"] == "start" and trace["steps"][0]["worst_task"] == "Breast_luminal/classification"
    assert trace["steps"][-1]["within"] and trace["search_images"] == plans["search_images"] > 0
    accuracy = json.loads((result.run_dir / "accuracy.json").read_text())
    stages = [s["stage"] for s in accuracy["ledger"]]
    shipped_runtime = result.plans.chosen.plan.backend.value
    assert stages[0] == "ONNX fp32 (onnxruntime)" and stages[-1].endswith(f"compiled ({shipped_runtime})")
    assert manifest_engine(result.run_dir) == shipped_runtime  # the bundle runs on the runtime that won
    assert "Breast_luminal/classification" in accuracy["ledger"][0]["drops"]["internal"]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert "plans.json" in manifest["files"]


def manifest_engine(bundle: Path) -> str:
    return json.loads((bundle / "manifest.json").read_text())["engine"]["backend"]


def test_every_runtime_is_timed_in_one_loop_with_the_peers(searched):
    """Each plan's speed-up is over its own runtime's fp32; torch eager (and any runtime's fp32 not built as a
    plan) is timed in the same loop as a peer, and every plan carries its ratio to each peer."""
    result, _ = searched
    runs = {r.plan.name: r for r in result.plans.runs}
    for name, fp32 in (("int8", "fp32"), ("ort-int8", "ort-fp32")):
        expected = runs[fp32].timing["median_ms"] / runs[name].timing["median_ms"]
        assert runs[name].timing["speedup_vs_fp32"] == pytest.approx(expected)
    peers = result.plans.peers
    assert set(peers) == {"torch eager", "onnxruntime fp32", "openvino fp32"}  # the two fp32 are plans here
    assert peers["onnxruntime fp32"]["median_ms"] == runs["ort-fp32"].timing["median_ms"]
    chosen = result.plans.chosen
    assert chosen.timing["vs_peers"]["torch eager"] == pytest.approx(
        peers["torch eager"]["median_ms"] / chosen.timing["median_ms"])
    plans = json.loads((result.run_dir / "plans.json").read_text())
    assert plans["peers"]["torch eager"]["median_ms"] > 0
    report = (result.run_dir / "report.md").read_text()
    assert "| torch eager |" in report and f"Against the peers in the same loop, **{chosen.plan.name}** is" in report


def test_when_no_plan_passes_the_build_exits_2_naming_the_closest(searched, data, tmp_path, run_cli):
    _, out = searched
    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    text = text.replace('name = "cpu-x86-scanner"', 'name = "too-fast"').replace("latency_p95_ms = 100",
                                                                                 "latency_p95_ms = 0.01")
    # the fixture's scope search, so its stages are found in the cache: this test is about the verdict
    text = text.replace("calibration_max_samples = 300", f"calibration_max_samples = 300\nscope_max_blocks = {SCOPE_BLOCKS}")
    # this machine is the profile's device (its CPU named): speed gates measured here gate (off-target they
    # would be inconclusive projections: tests/pipeline/test_off_target.py)
    from edgeus.util.toolchain import machine_description

    text = text.replace('cpu_model = "i7-1185G7"', f"cpu_model = {json.dumps(machine_description()['cpu'])}")
    (tmp_path / "too-fast.toml").write_text(text)
    code, stdout, err = run_cli("build", "--target", "too-fast", "--profiles-dir", tmp_path, "--model", MODEL,
                                "--spec", SPEC, "--data", data, "-o", out, "--threads", "2", "--no-robustness")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert "no plan passes every gate; closest: " in last and "latency p95" in last, last
    assert "Traceback" not in err and "rejected" in stdout


@pytest.mark.parametrize("args, needle", [
    (["--target", "cpu-x86-scanner", "--plan", "int9"], "unknown plan 'int9'"),
    (["--target", "cpu-x86-scanner", "--plan", "bf16"], "needs bf16 arithmetic"),
    (["--target", "cpu-arm-handheld", "--plan", "int8-auto"], "unknown plan 'int8-auto' for the onnxruntime"),
    (["--target", "cpu-x86-scanner", "--plan", ""], "--plan is empty"),  # was read as "not given" and built
    # one target written as a list is that target (was "unknown profile 'cpu-x86-scanner,'")
    (["--target", "cpu-x86-scanner,", "--plan", "int9"], "unknown plan 'int9'"),
    (["--target", "cpu-x86-scanner,cpu-x86-scanner", "--plan", "int9"], "unknown plan 'int9'"),
])
def test_bad_plans_are_one_line_and_write_nothing(args, needle, tmp_path, run_cli):
    out = tmp_path / "out"
    code, _, err = run_cli("build", *args, "-o", out)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_a_negative_budget_is_one_line_and_writes_nothing(tmp_path, run_cli):
    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    (tmp_path / "neg.toml").write_text(text.replace('name = "cpu-x86-scanner"', 'name = "neg"')
                                       .replace("auc_worst = 0.02", "auc_worst = -0.02"))
    out = tmp_path / "out"
    code, _, err = run_cli("build", "--target", tmp_path / "neg.toml", "-o", out)
    assert_one_line_error(code, err, "budgets.accuracy_drop.auc_worst", "greater than or equal to 0")
    assert not out.exists()


def _judged_ort_runs(arm_bundle, medians: dict[str, float]):
    """ONNX Runtime plans judged with the ARM bundle's (passing) accuracy and the given loop medians."""
    from edgeus.contracts.plans import plan_named
    from edgeus.contracts.profiles import Backend
    from edgeus.pipeline.context import PlanRun, PlanSearch, PlanState
    from edgeus.pipeline.plans import judge_plans, plan_profile
    from edgeus.pipeline.stages import load_accuracy

    profile = load_profile("cpu-arm-handheld")
    profile = profile.model_copy(update={"budgets": profile.budgets.model_copy(update={"latency_p95_ms": 600_000.0})})
    accuracy = load_accuracy(arm_bundle / "accuracy.json")
    runs = []
    for name, ms in medians.items():
        plan = plan_named(Backend.onnxruntime, name)
        run = PlanRun(plan, plan_profile(profile, plan), accuracy=accuracy, size_mb=1.0, state=PlanState.built)
        run.timing = {"median_ms": ms, "p95_ms": ms}
        if "fp32" in medians:
            run.timing["speedup_vs_fp32"] = medians["fp32"] / ms
        runs.append(run)
    search = PlanSearch(runs, {}, len(runs) == 1)
    judge_plans(search, profile.budgets)
    return search, {r.plan.name: r for r in runs}


def test_onnxruntime_int8_ships_only_when_clearly_faster_than_its_fp32(arm_bundle):
    # int8 1.36x fp32 (below the 1.5x floor), int8-hint 1.67x: int8-hint ships, int8 is rejected saying why
    search, runs = _judged_ort_runs(arm_bundle, {"fp32": 30.0, "int8": 22.0, "int8-hint": 18.0})
    assert search.chosen is runs["int8-hint"]
    assert runs["int8"].state == "rejected" and runs["int8"].reason.startswith("speedup vs fp32")
    assert "1.364 vs budget 1.5" in runs["int8"].reason
    # both INT8 plans 1.2-1.4x: fp32 ships, although it is the slowest
    search, runs = _judged_ort_runs(arm_bundle, {"fp32": 30.0, "int8": 22.0, "int8-hint": 25.0})
    assert search.chosen is runs["fp32"] and all(runs[p].state == "rejected" for p in ("int8", "int8-hint"))
    # a pinned INT8 plan has no fp32 beside it: nothing to compare, the user's choice stands
    search, runs = _judged_ort_runs(arm_bundle, {"int8": 22.0})
    assert search.chosen is runs["int8"] and not any("speedup" in v.item for v in runs["int8"].verdicts)
