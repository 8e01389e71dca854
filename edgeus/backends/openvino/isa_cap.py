"""OpenVINO's CPU plugin at the target's ISA: oneDNN's ``ONEDNN_MAX_CPU_ISA`` cap.

Measured (OpenVINO 2026.4, AMD EPYC with AVX-512-BF16): the cap takes effect in the CPU plugin's oneDNN
kernels (a convolution runs ``brgconv_avx512_f32`` uncapped, ``brgconv_avx2_f32`` with the cap at AVX2).
oneDNN reads the variable once, at the first kernel it creates in a process: so the build sets it before any
OpenVINO work, and records the cap that was in force when this process first loaded a model (a second build
for another target in the same process keeps the first one's, and its manifest says so).

A target whose ISA is above this machine's (an AMX cart built on a Zen 4) cannot be matched: the evidence is
computed with this machine's ISA, and the manifest says which."""

from __future__ import annotations

import os

ENV = "ONEDNN_MAX_CPU_ISA"
# oneDNN's ISA names, lowest first, with the /proc/cpuinfo-style features that select each
ORDER = ("sse41", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx")
_SELECTED_BY = (("amx_int8", "avx512_core_amx"), ("amx_bf16", "avx512_core_amx"), ("avx512_bf16", "avx512_core_bf16"),
                ("avx512_vnni", "avx512_core_vnni"), ("avx512f", "avx512_core"), ("avx_vnni", "avx2_vnni"),
                ("avx2", "avx2"))
_first_load: dict = {}  # the cap in force when this process first loaded an OpenVINO model


def onednn_isa(features: list[str]) -> str:
    have = set(features)
    return next((isa for feature, isa in _SELECTED_BY if feature in have), "sse41")


def note_first_load() -> None:
    """Called by the runner before its first model load: what oneDNN will read, once, for this process."""
    _first_load.setdefault("cap", os.environ.get(ENV))


def apply_target_isa(target_features: list[str] | None, host_features: list[str]) -> dict:
    """Cap this process's oneDNN at the target's ISA where it is below this machine's; the record says which
    ISA the evidence was computed with, and why."""
    host = onednn_isa(host_features)
    if not target_features:
        return {"runtime": "openvino (oneDNN)", "host": host, "target": None, "computed_with": host,
                "note": "the target publishes no CPU features: evidence at this machine's ISA"}
    target = onednn_isa(target_features)
    record = {"runtime": "openvino (oneDNN)", "host": host, "target": target}
    if ORDER.index(target) > ORDER.index(host):
        return {**record, "computed_with": host,
                "note": f"the target's {target} is above this machine's {host}: its kernels are not exercised here"}
    if target == host:
        return {**record, "computed_with": host, "note": "this machine's ISA is the target's"}
    if "cap" not in _first_load:
        os.environ[ENV] = target.upper()
    in_force = _first_load.get("cap", os.environ.get(ENV))
    if in_force and in_force.lower() == target:
        return {**record, "computed_with": target, "cap": f"{ENV}={target.upper()}",
                "note": f"capped at the target's ISA (this machine has {host})"}
    return {**record, "computed_with": (in_force or host).lower(),
            "note": f"this process's oneDNN started with {ENV}={in_force or 'unset'} before this build: "
                    "evidence at that ISA, not the target's"}
