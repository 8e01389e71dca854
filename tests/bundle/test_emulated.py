"""Conformance on the target's ISA, emulated: the ARM bundle's vectors run with edgeus's own runtime in a
Debian arm64 userland under QEMU user-mode (cortex-a76), numbers recorded the x86 way are caught naming the
vector, and every way ``--emulate`` cannot apply is one line that writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.bundle.conformance import record_bundle_outputs
from edgeus.bundle.manifest import finish_manifest

QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
needs_qemu = pytest.mark.skipif(QEMU is None or shutil.which("debootstrap") is None,
                                reason="QEMU user-mode and debootstrap not installed (apt-get install qemu-user debootstrap)")


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


@needs_qemu
def test_the_arm_build_checks_its_vectors_on_emulated_cortex_a76(arm_bundle):
    manifest = _manifest(arm_bundle)
    on_target = manifest["conformance"]["on_target"]
    assert on_target["state"] == "pass", on_target
    assert on_target["cpu_model"] == "cortex-a76" and on_target["where"] == "cortex-a76 (emulated)"
    assert on_target["emulator"].startswith("qemu-aarch64") and "onnxruntime" in on_target["userland"]
    assert len(on_target["vectors"]) == len(manifest["tasks"]) and all(v["passed"] for v in on_target["vectors"])
    verdict = next(v for v in manifest["verdicts"] if v["item"] == "conformance on cortex-a76 (emulated)")
    assert verdict["state"] == "pass" and verdict["measured"] == verdict["budget"] == len(manifest["tasks"])
    # the session the device runs is the one the evidence was computed with, written down
    assert manifest["engine"]["settings"]["session"]["disabled_optimizers"] == ["NchwcTransformer"]
    assert manifest["evidence_isa"]["target_cpu"] == "cortex-a76"
    assert "Conformance on cortex-a76 (emulated): pass" in (arm_bundle / "report.md").read_text()


@needs_qemu
def test_verify_emulate_fails_on_vectors_the_emulated_core_does_not_reproduce(arm_bundle, tmp_path, run_cli):
    """The vectors re-recorded with the build machine's own kernels and rewrites (ONNX Runtime's x86 defaults:
    NCHWc layout on, signed 8-bit kernels), one of them off by more than its tolerance, the manifest re-hashed:
    the files check passes, the emulated core does not reproduce that vector, and verify names it.

    (Before the swin-window-order export rewrite the x86-way recording alone failed a vector here; with the
    rewritten graph the x86 and aarch64 kernels agree within every vector's tolerance, so the test moves one
    vector beyond it: what is checked is that the emulated run, not this machine, judges the numbers.)"""
    import numpy as np

    from edgeus.bundle.conformance import VECTORS, load_vectors

    tampered = tmp_path / arm_bundle.name
    shutil.copytree(arm_bundle, tampered)
    manifest = _manifest(tampered)
    x86_way = {"config": {"session.qdqisint8allowed": "1"}}  # no disabled rewrites: NCHWc on, S8S8 x86 kernels
    with OnnxRuntimeRunner(tampered / manifest["engine"]["model"], threads=2, session=x86_way) as x86:
        record_bundle_outputs(tampered, x86, manifest["target"]["precision"])
    index, arrays = load_vectors(tampered)
    row = next(r for r in index["tasks"] if r["output"] == "seg_logits")
    arrays[row["bundle"]] = arrays[row["bundle"]] + np.float32(4 * row["bundle_atol"])
    np.savez_compressed(tampered / VECTORS, **arrays)
    finish_manifest(tampered, {k: v for k, v in manifest.items() if k != "files"})
    code, out, err = run_cli("verify", tampered, "--emulate")
    assert_one_line_error(code, err, "does not verify", f"conformance {row['task']}", "from the bundle's outputs")
    assert "cortex-a76 (emulated)" in out


def test_emulate_refuses_a_target_of_this_machines_architecture(x86_bundle, run_cli):
    code, _, err = run_cli("verify", x86_bundle, "--emulate")
    assert_one_line_error(code, err, "x86_64, like this machine", "needs no emulation")


def test_a_missing_emulator_is_one_line_and_writes_nothing(arm_bundle, tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no qemu-aarch64 anywhere
    monkeypatch.setenv("EDGEUS_CACHE", str(tmp_path / "cache"))
    before = sorted(p.name for p in arm_bundle.rglob("*"))
    code, _, err = run_cli("verify", arm_bundle, "--emulate")
    assert_one_line_error(code, err, "no aarch64 emulator", "apt-get install qemu-user")
    assert sorted(p.name for p in arm_bundle.rglob("*")) == before and not (tmp_path / "cache").exists()


def test_a_build_without_the_emulator_says_not_checked_never_pass(tmp_path, monkeypatch):
    from edgeus.bundle.emulated import emulated_conformance
    from edgeus.pipeline.target_evidence import conformance_verdict

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    record = emulated_conformance(tmp_path, {"profile": {"hardware": {"arch": "aarch64", "cpu_model": "cortex-a76"}},
                                             "engine": {"backend": "onnxruntime"}})
    assert record.state == "not checked" and "qemu-aarch64" in record.reason
    assert "not checked on the target ISA" in record.summary()
    verdict = conformance_verdict(record)
    assert verdict.state == "inconclusive" and verdict.passed is None and "not checked" in verdict.note


def test_the_fake_cpuinfo_names_the_core():
    from edgeus.util.arm_cores import cpuinfo_text

    text = cpuinfo_text("cortex-a76", 2)
    assert text.count("processor\t:") == 2 and "CPU part\t: 0xd0b" in text and "asimddp" in text
