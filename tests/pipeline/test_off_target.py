"""Device budgets, honestly: a speed or memory figure measured on a machine that is not the target is
inconclusive (off-target), shown with a spec-sheet projection, never a fail; strict blocks on it; measured on
the target it gates as before. The projection model is checked by hand-computed figures."""

from __future__ import annotations

import pytest

from edgeus.contracts.profiles import load_profile
from edgeus.pipeline.projection import HostPeaks, project
from edgeus.pipeline.verdicts import Verdict, all_passed, is_target_machine, off_target

HOST = HostPeaks(ghz=2.5, fp32_per_core=80.0, int8_per_core=320.0, bandwidth_gbs=20.0, basis="test host")


def test_projection_takes_the_weaker_resource():
    arm = load_profile("cpu-arm-handheld")  # INT8: 0.6 TOPS, 33.8 GB/s
    p = project(arm, host_threads=2, host=HOST)
    assert p.ratio == pytest.approx(max(640 / 600, 20 / 33.8))  # compute: 2 x 320 GOPS here vs 600
    fp32 = arm.model_copy(update={"precision": type(arm.precision)("fp32")})
    assert project(fp32, 2, HOST).ratio == pytest.approx(160 / 154)
    slow_memory = arm.model_copy(update={"hardware": arm.hardware.model_copy(update={"memory_bandwidth_gbs": 5.0})})
    assert project(slow_memory, 2, HOST).ratio == pytest.approx(20 / 5.0)  # bandwidth-bound: 4x slower
    no_peaks = arm.model_copy(update={"hardware": arm.hardware.model_copy(
        update={"peak_int8_tops": None, "peak_fp32_gflops": None})})
    assert project(no_peaks, 2, HOST) is None


def test_an_off_target_latency_fail_is_inconclusive_with_its_projection_and_strict_blocks():
    arm = load_profile("cpu-arm-handheld")
    measured = Verdict("latency p95 (compute, batch 1)", 539.8, 250, "ms", False, "busy build host")
    assert measured.state == "fail"
    v = off_target(measured, project(arm, 2, HOST), arm)
    assert v.state == "inconclusive" and v.passed is None and v.off_target
    assert v.projected == pytest.approx(539.8 * max(640 / 600, 20 / 33.8))
    assert v.note.startswith("inconclusive (off-target): measured 539.8 ms on the host")
    assert "projected" in v.note and "beyond budget 250" in v.note
    assert all_passed([v]) and not all_passed([v], strict=True)


def test_frame_rate_projects_down_and_memory_as_measured():
    arm = load_profile("cpu-arm-handheld")
    fps = off_target(Verdict("frame rate", 30.0, 4, "fps", True, floor=True), project(arm, 2, HOST), arm)
    assert fps.projected == pytest.approx(30.0 / max(640 / 600, 20 / 33.8))
    memory = off_target(Verdict("peak system memory", 900.0, 768, "MiB", False), project(arm, 2, HOST), arm)
    assert memory.state == "inconclusive" and memory.projected == 900.0 and "as measured" in memory.note
    na = Verdict("peak gpu memory", None, 512, "MiB", None)
    assert off_target(na, None, arm) is na  # nothing measured: nothing to project


def test_no_profile_naming_another_cpu_is_taken_for_this_machine():
    for name in ("cpu-arm-handheld", "cpu-x86-scanner", "cpu-x86-cart-spr", "uusic25-server"):
        assert not is_target_machine(load_profile(name))  # the test machine is none of these devices
    x86 = load_profile("cpu-x86-scanner")
    from edgeus.util.toolchain import machine_description

    here = machine_description()["cpu"]
    if x86.hardware.arch == machine_description()["machine"] and here:
        me = x86.model_copy(update={"hardware": x86.hardware.model_copy(update={"cpu_model": here})})
        assert is_target_machine(me)
