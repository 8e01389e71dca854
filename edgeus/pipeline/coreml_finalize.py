"""``edgeus finalize`` of a Core ML bundle, on a Mac: where the pending bundle (pipeline/coreml_pending.py)
becomes a ready one. Core ML compiles and predicts only on Apple's OSes, so off macOS this is one line.

Before anything is written: the manifest and the file hashes (never finalize tampered inputs), macOS, and
coremltools. Then, in a copy of the bundle: Core ML loads (compiles) the package; the conformance vectors' own
outputs are recorded from Core ML and checked against the fp32 reference within the build's tolerances (the
package departing from fp32 stops it, naming the task); with ``data`` each task is re-validated against the
bundle's portable fp32 ONNX; the model is profiled in its own process; the copy replaces the bundle only when
all of that succeeded. A ``w8a8`` bundle first has its activations calibrated over the images it carries and its
weights quantized (backends/coreml/convert.quantize_w8a8): that package is the one checked and shipped. The Mac is not the iPhone or iPad the profile describes: accuracy and conformance are
Core ML's own (the same program and ops), the timing is the Mac's, and the speed gates say so (inconclusive
until timed on the device)."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from edgeus.backends.coreml.runner import CoreMLRunner
from edgeus.bundle.assemble import write_evidence
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.reports import accuracy_from_dict
from edgeus.pipeline.context import CACHE_DIR
from edgeus.pipeline.device_evidence import device_evidence, record_device_outputs
from edgeus.pipeline.verdicts import judge
from edgeus.runtime.manifest import BundleError, check_files, read_manifest
from edgeus.util.atomic import atomic_dir


def refuse_finalize_off_macos(bundle: Path) -> None:
    """A Core ML bundle off macOS: one line (the CLI calls it before any status line)."""
    manifest = read_manifest(bundle)
    if manifest["engine"]["backend"] == "coreml" and platform.system() != "Darwin":
        raise BundleError(f"cannot finalize {bundle} here: a Core ML bundle is finalized on macOS (Core ML compiles "
                          f"and predicts only there; this machine runs {platform.system()}); see its model/recipe.json")


def finalize_coreml(bundle: str | Path, *, data: str | Path | None = None, threads: int | None = None,
                    rebuild: bool = False) -> dict:
    bundle = Path(bundle)
    manifest = _preflight(bundle, rebuild)
    with atomic_dir(bundle, replace=True) as tmp:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        return _finalize_in(tmp, manifest, Path(data) if data else None, threads, bundle.parent / CACHE_DIR)


def _preflight(bundle: Path, rebuild: bool) -> dict:
    refuse_finalize_off_macos(bundle)
    manifest = read_manifest(bundle)
    engine = manifest["engine"]
    if engine["status"] == "ready" and not rebuild:
        raise BundleError(f"{bundle}: the Core ML package is already checked here ({engine['model']}); pass --rebuild "
                          "to check it again")
    problems = check_files(bundle, manifest)
    if problems:
        raise BundleError(f"{bundle}: refusing to finalize a bundle that does not match its manifest: {problems[0]}")
    try:
        import coremltools  # noqa: F401
    except ImportError:
        raise BundleError(f"cannot finalize {bundle}: coremltools is not installed: pip install 'edgeus[coreml]'") from None
    return manifest


def this_mac() -> dict:
    """What ran Core ML: the OS version and the machine (the chip's name, where sysctl tells it)."""
    import subprocess

    chip = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True).stdout.strip()
    return {"os": f"macOS {platform.mac_ver()[0]}", "machine": platform.machine(), "chip": chip or "unknown"}


def _finalize_in(folder: Path, manifest: dict, data: Path | None, threads: int | None, stages_dir: Path) -> dict:
    import coremltools

    engine = manifest["engine"]
    profile = DeviceProfile.model_validate(manifest["profile"])
    precision = manifest["target"]["precision"]
    package = folder / engine["build_input"]
    if engine["settings"].get("plan") == "w8a8":
        package = _quantize_w8a8(package)
    with CoreMLRunner(package, compute_units=engine["settings"].get("compute_units", "ALL")) as runner:
        record_device_outputs(folder, runner, precision, "the Core ML package")
    evidence = device_evidence(folder, manifest, package, data, threads or profile.runtime.threads, stages_dir)
    # a Mac is not the profile's device: accuracy is Core ML's own, the timing is not the device's
    verdicts, passed = judge(profile, evidence.perf, accuracy_from_dict(evidence.accuracy), measured_on_target=False)
    mac = this_mac()
    updated = {k: v for k, v in manifest.items() if k not in ("files", "schema", "schema_version")}
    updated["engine"] = {**engine, "status": "ready", "model": package.relative_to(folder).as_posix(), "device": mac,
                         "evidence": f"Core ML on {mac['chip']} ({mac['os']}), compute units "
                                     f"{engine['settings'].get('compute_units', 'ALL')}; timing is this Mac's, not "
                                     f"{profile.hardware.device}'s"}
    updated["toolchain"] = {**manifest["toolchain"], "coremltools": coremltools.__version__}
    return write_evidence(folder, updated, evidence.accuracy, evidence.perf.to_dict(), [v.to_dict() for v in verdicts],
                          passed, {})


def _quantize_w8a8(package: Path) -> Path:
    """The fp16 package with INT8 activations (calibrated over the bundle's images) and weights, beside it."""
    import numpy as np

    from edgeus.backends.coreml.convert import CALIBRATION_FILE, W8A8_PACKAGE, quantize_w8a8

    samples: dict[int, dict] = {}
    with np.load(package.parent / CALIBRATION_FILE, allow_pickle=False) as data:
        for key in data.files:  # "{sample}/{input name}"
            index, name = key.split("/", 1)
            samples.setdefault(int(index), {})[name] = data[key]
    out = package.parent / W8A8_PACKAGE
    shutil.rmtree(out, ignore_errors=True)  # a --rebuild quantizes afresh
    return quantize_w8a8(package, [samples[i] for i in sorted(samples)], out)
