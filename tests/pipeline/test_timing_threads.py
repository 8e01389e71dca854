"""No timing uses more threads than the machine has cores (two threads on one core time the scheduler, not the
model): the build's profile stage and plan-timing loop, and ``edgeus profile``, cap at the cores present and
say so; the bundle keeps the target's thread count for the device."""

from __future__ import annotations

import json

from edgeus.contracts.plans import candidate_plans
from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR, load_profile
from edgeus.pipeline.context import BuildOptions, build_context
from edgeus.pipeline.stages import profiling_of
from edgeus.util.toolchain import cpu_isa, usable_cores


def test_the_build_times_with_at_most_the_cores_present(small_phantom, tmp_path):
    cores = usable_cores()
    profile = load_profile("cpu-x86-scanner")
    options = BuildOptions(data=small_phantom, out=tmp_path, threads=cores + 3, plan="int8-hint")
    ctx = build_context(profile, options, candidate_plans(profile, "int8-hint", cpu_isa()), bundle=False)
    assert ctx.threads == cores + 3          # what the bundle records for the device
    assert ctx.timing_threads == cores       # what every timing here uses
    assert profiling_of(ctx).threads == cores


def test_edgeus_profile_caps_threads_and_says_so(x86_bundle, small_phantom, tmp_path, run_cli):
    cores = usable_cores()
    # the scanner with its memory budget opened up: profiled in this (pytest, torch) process, not the device's
    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    (tmp_path / "roomy.toml").write_text(text.replace('name = "cpu-x86-scanner"', 'name = "roomy"')
                                         .replace("peak_memory_mb = 1024", "peak_memory_mb = 100000"))
    code, out, err = run_cli("profile", x86_bundle / "model", "--target", "roomy", "--profiles-dir", tmp_path,
                           "--threads", str(cores + 3), "--data", small_phantom, "--min-iters", "3",
                           "--min-duration", "0.1", "--json", tmp_path / "perf.json")
    assert code == 0, err  # the int8 model is ~8x inside the scanner's 100 ms latency budget here
    assert f"timing with {cores} threads, the cores this machine has ({cores + 3} asked)" in out
    assert json.loads((tmp_path / "perf.json").read_text())["settings"]["threads"] == cores
