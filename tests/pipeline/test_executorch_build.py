"""An Android phone build, for real: the default model lowered by ExecuTorch to XNNPACK ``.pte`` plans (fp32, INT8,
INT8 with the spec's float scope), each validated per task and timed beside the peers; the bundle carries the
program, its input/output contract and its delegation record, and verifies; its conformance vectors are recorded
and checked on the phone's core's ISA under QEMU (torch-free executorch-numpy-runtime in a Debian arm64 userland),
or the verdict says they were not checked where QEMU is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_subprocess

pytest.importorskip("executorch", reason="the executorch extra is not installed (pip install 'edgeus[executorch]')")

from edgeus.bundle.verify import verify  # noqa: E402
from edgeus.contracts.plans import all_plans, plan_of_profile  # noqa: E402
from edgeus.contracts.profiles import Backend, load_profile  # noqa: E402
from edgeus.pipeline.flow import BuildOptions, build  # noqa: E402

PROFILE = "phone-android-sd8g2"
QEMU = (shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")) and shutil.which("debootstrap")


def _build(small_phantom, out, plan: str):
    options = BuildOptions(data=small_phantom, out=out, threads=2, profile_min_iters=5, profile_min_duration_s=0.2,
                           plan=plan, robustness=False)
    return build(load_profile(PROFILE), options)


@pytest.fixture(scope="module")
def android(small_phantom, tmp_path_factory):
    """The fp32 plan, pinned: the default run's build (each ExecuTorch INT8 lowering takes ~2.5 minutes on 2
    cores; the plan search over all three is the slow test below)."""
    return _build(small_phantom, tmp_path_factory.mktemp("android"), "fp32")


def test_the_android_profile_has_executorchs_plans():
    profile = load_profile(PROFILE)
    assert profile.backend is Backend.executorch and profile.hardware.arch == "aarch64"
    assert [p.name for p in all_plans(Backend.executorch)] == ["fp32", "fp16", "int8", "int8-hint"]
    assert plan_of_profile(profile, "et-int8").name == "int8"  # the prefixed name a comparison table shows


def test_the_plan_is_lowered_validated_and_timed_beside_the_peers(android):
    (run,) = android.plans.runs
    row = run.row()
    assert row["state"] == "chosen" and row["median_ms"] > 0 and row["worst_drop"] is not None
    assert 0 < row["delegation"]["coverage"] <= 1 and row["delegation"]["delegated_subgraphs"] >= 1
    assert {"torch eager", "onnxruntime fp32"} <= set(android.plans.peers)


@pytest.mark.slow
def test_the_plan_search_builds_fp32_int8_and_int8_hint_each_gated_with_its_delegation(small_phantom, tmp_path):
    result = _build(small_phantom, tmp_path, "auto")
    rows = {r["plan"]: r for r in (run.row() for run in result.plans.runs)}
    assert set(rows) == {"fp32", "int8", "int8-hint"}
    for name, row in rows.items():
        assert row["state"] != "error", (name, row["reason"])
        assert row["median_ms"] > 0 and row["worst_drop"] is not None
        assert 0 < row["delegation"]["coverage"] <= 1
    # the spec's float scope keeps modules out of the quantizer: they stay on fp32 kernels
    hinted = next(r for r in result.plans.runs if r.plan.name == "int8-hint")
    assert json.loads((hinted.model_dir / "compile.json").read_text())["quantize"]["ignored_scope"]["modules"]
    assert result.plans.shipped is not None


def test_the_bundle_ships_the_program_and_verifies(android):
    assert android.passed is not False and android.run_dir is not None
    bundle = Path(android.run_dir)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["engine"]["backend"] == "executorch" and manifest["engine"]["status"] == "ready"
    model = bundle / manifest["engine"]["model"]
    assert model.suffix == ".pte" and model.is_file()
    assert (model.parent / "model.io.json").is_file() and (model.parent / "delegation.json").is_file()
    plans = json.loads((bundle / "plans.json").read_text())
    assert any(p.get("delegation") for p in plans["plans"])
    assert "Delegation (ExecuTorch)" in (bundle / "report.md").read_text()
    # evidence names where it was computed: this machine's XNNPACK kernels, not the phone's
    isa = manifest["evidence_isa"]
    assert isa["runtime"] == "executorch (XNNPACK)" and isa["target_arch"] == "aarch64"
    verdicts = json.loads((bundle / "verdicts.json").read_text())["verdicts"]
    (on_target,) = [v for v in verdicts if v["item"] == "conformance on cortex-x3 (emulated)"]
    if not QEMU:
        assert on_target["state"] == "inconclusive" and "not checked" in on_target["note"]
    else:  # the vectors hold the phone ISA's outputs, checked there in a fresh guest process
        assert on_target["state"] == "pass" and on_target["measured"] == on_target["budget"] == len(manifest["tasks"])
        record = manifest["conformance"]["on_target"]
        assert "-cpu max,sve=off,sme=off" in record["emulator"] and "executorch-numpy-runtime" in record["userland"]
        assert len(record["recorded_on_core"]) == len(manifest["tasks"])
    report = verify(bundle, threads=2)
    assert report.passed, report.first_problem()
    assert report.backend == "executorch" and report.vectors


@pytest.mark.slow  # the build above already recorded and checked the vectors there; this is the vendor's re-check
@pytest.mark.skipif(not QEMU, reason="QEMU user-mode and debootstrap not installed (apt-get install qemu-user debootstrap)")
def test_verify_emulate_runs_the_vectors_on_the_phones_isa_without_torch(android, run_cli):
    code, out, err = run_cli("verify", android.run_dir, "--emulate")
    assert code == 0, err
    assert "cortex-x3 (emulated)" in out


def test_an_operator_executorchs_runtime_lacks_is_named_by_the_build_and_no_bundle_is_written(small_phantom, tmp_path):
    """What a user sees (a fresh process): the build's stage lines, then one error line naming the operator."""
    from toymodels import SPEC_TOML

    spec = tmp_path / "toy.spec.toml"
    spec.write_text(SPEC_TOML)
    out = tmp_path / "out"
    done = run_subprocess("build", "--target", PROFILE, "--model", "toymodels:sort_net", "--spec", spec,
                          "--data", small_phantom, "--plan", "fp32", "-o", out)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("edgeus: error: ") and "ExecuTorch cannot run the operator aten::sort.values" in lines[-1]
    assert [line.strip().split(":")[0] for line in lines[:-1]] == ["export"], lines  # nothing else on the console
    assert [p.name for p in out.iterdir()] == [".edgeus-cache"]  # the stages' cache, as every build; no bundle


def test_the_onnx_stage_commands_refuse_the_phone_profiles_in_one_line(tmp_path):
    from edgeus.errors import CompileError, QuantizeError
    from edgeus.models import model_spec
    from edgeus.stages.compile import compile_model
    from edgeus.stages.quantize import quantize

    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not read: refused first")
    with pytest.raises(QuantizeError, match="lowered from the torch model, not quantized from an ONNX file"):
        quantize(onnx, load_profile(PROFILE), model_spec("uniusnet"), tmp_path / "q", None)
    with pytest.raises(CompileError, match="compiled by Core ML, on macOS"):
        compile_model(onnx, load_profile("tablet-ios-a17pro"), tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
