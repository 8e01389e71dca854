"""Which device profiles a device can honestly serve.

A device matches a profile when the profile's spec sheet is what the device is: same architecture, every CPU
feature the profile lists present, the profile's backend installed, and for GPU profiles a GPU of the
profile's compute capability. A mismatch is refused with the reasons, so a rack never measures a profile on
the wrong hardware. The identity itself: util/device_identity.py.

A Core ML profile (an iPhone or iPad) is served by a Mac instead: no farm agent runs on the phone, and Core ML
compiles and predicts only on Apple's OSes, so the Mac is where such a bundle is finalized (pipeline/
coreml_finalize.py). Its evidence names the Mac, and its timing never passes as the device's.
"""

from __future__ import annotations


def mismatches(profile, identity: dict) -> list[str]:
    """Why this device cannot serve this profile ([] when it can)."""
    hw = profile.hardware
    if profile.backend.value == "coreml":
        return _mac_mismatches(identity)
    reasons = []
    arch = identity.get("arch")
    if arch and arch != hw.arch:
        reasons.append(f"architecture {arch}, the profile is {hw.arch}")
    missing = sorted(set(hw.cpu_features or []) - set(identity.get("cpu_features") or []))
    if missing:
        reasons.append(f"CPU lacks {', '.join(missing)} of the profile's spec sheet")
    backend = profile.backend.value
    if backend not in (identity.get("backends") or []):
        reasons.append(f"{backend} is not installed")
    if hw.accelerator != "none":
        if not identity.get("gpu"):
            reasons.append(f"no GPU, the profile needs {hw.accelerator}")
        trt = profile.runtime.tensorrt
        wanted = trt.compute_capability if trt else None
        if wanted and identity.get("compute_capability") and identity["compute_capability"] != wanted:
            reasons.append(f"GPU compute capability {identity['compute_capability']}, the profile needs {wanted}")
    return reasons


def _mac_mismatches(identity: dict) -> list[str]:
    reasons = []
    if identity.get("os") != "Darwin":
        reasons.append(f"Core ML bundles are finalized on macOS; this device runs {identity.get('os') or 'another OS'}")
    if "coreml" not in (identity.get("backends") or []):
        reasons.append("coreml is not installed (coremltools)")
    return reasons


def served_profiles(identity: dict, requested: list[str] | None = None,
                    extra_dirs: list | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """(profiles this device serves, {refused profile: reasons}). ``requested`` None: every known profile
    (built-in and in ``extra_dirs``)."""
    from edgeus.contracts.profiles import list_profiles, load_profile

    names = requested or [p.name for p in list_profiles(extra_dirs)]
    served, refused = [], {}
    for name in names:
        reasons = mismatches(load_profile(name, extra_dirs), identity)
        if reasons:
            refused[name] = reasons
        else:
            served.append(name)
    return served, refused
