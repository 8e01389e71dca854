"""Assemble a bundle folder from a finished build: model files, evidence, conformance vectors, reports,
manifest (written last, with the hash of every other file). The folder appears atomically.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus import __version__
from edgeus.bundle.conformance import INDEX, VECTORS, make_vectors
from edgeus.bundle.golden import GOLDEN, GOLDEN_INDEX, make_golden
from edgeus.bundle.manifest import (
    accuracy_summary,
    finish_manifest,
    io_table,
    now_utc,
    performance_summary,
    task_table,
)
from edgeus.bundle.sbom import SBOM_FILE, device_sbom
from edgeus.contracts.preprocess import BUNDLE_MASK_MAPPING, RUNTIME_VS_CONTAINER
from edgeus.contracts.reports import AccuracyReport, PerfReport
from edgeus.util.atomic import atomic_dir
from edgeus.util.hashing import sha256_file
from edgeus.util.toolchain import toolchain_record

if TYPE_CHECKING:
    from edgeus.backends.base import Runner
    from edgeus.contracts.profiles import DeviceProfile
    from edgeus.models import LoadedModel

RunnerFactory = Callable[[], "Runner"]
OVERLAY_SAMPLES = 2
MODEL_DIR = "model"
# Machine-specific: an OpenVINO compiled-model cache only fits the CPU that wrote it; the device makes its own.
NOT_SHIPPED = {"cache"}
BUILD_LOG = "build.log"


@dataclass
class BundleParts:
    """Everything a bundle is made of, gathered by the build."""

    loaded: LoadedModel               # torch reference, spec, name, checkpoint hash
    profile: DeviceProfile
    model_dir: Path                   # compiled (or portable) model folder to ship
    engine: dict                      # backend, status, model (relative path), settings, recipe
    accuracy: AccuracyReport          # accuracy.json (with ``plan_evidence`` added)
    perf: PerfReport | None           # perf.json (None: engine pending)
    verdicts: list[dict]
    passed: bool
    samples: list                     # validation samples (ground truth), for vectors and overlays
    calibration: dict | None = None   # CalibrationPlan.record()
    candidate_factory: RunnerFactory | None = None  # the shipped engine; None when pending
    portable_factory: RunnerFactory | None = None   # the fp32 ONNX, for pending engines
    preview_factory: RunnerFactory | None = None    # what was validated, for overlays when the engine is pending
    data: dict | None = None          # where the evidence came from (data/provenance.py)
    build_log: str | None = None      # library logs of the build, machine paths scrubbed
    extra_files: dict[str, Path] = field(default_factory=dict)  # bundle path -> source file
    extra_texts: dict[str, str] = field(default_factory=dict)   # bundle path -> text content
    plan_evidence: dict = field(default_factory=dict)  # accuracy.json's plan, images and stage ledger
    evidence_isa: dict | None = None  # the ISA and runtime settings the evidence was computed with
    # Once the folder holds model and vectors: run them on the target's ISA (emulated) -> (record, verdicts,
    # passed), the verdicts and state the manifest then carries (pipeline/target_evidence.py)
    target_check: Callable[[Path, dict], tuple[dict, list[dict], bool]] | None = None


def first_per_task(samples: list, n: int = 1) -> list:
    """The first ``n`` samples of each task row, in catalog-stable order (deterministic vectors)."""
    seen: dict[str, list] = {}
    for s in samples:
        if len(seen.setdefault(s.task.key, [])) < n:
            seen[s.task.key].append(s)
    return [s for rows in seen.values() for s in rows]


def write_bundle(parts: BundleParts, out: Path, *, force: bool = False) -> dict:
    from edgeus.backends.torch import TorchRunner

    loaded, profile = parts.loaded, parts.profile
    with atomic_dir(out, replace=force) as tmp:
        shutil.copytree(parts.model_dir, tmp / MODEL_DIR, ignore=lambda d, names: [n for n in names if n in NOT_SHIPPED])
        for rel, source in parts.extra_files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / rel)
        for rel, text in parts.extra_texts.items():
            (tmp / rel).write_text(text)
        if parts.build_log is not None:
            (tmp / BUILD_LOG).write_text(parts.build_log, encoding="utf-8")

        reference = TorchRunner(loaded.module, loaded.spec, threads=profile.runtime.threads,
                                name=f"torch-fp32:{loaded.name}")
        candidate = parts.candidate_factory() if parts.candidate_factory else None
        portable = parts.portable_factory() if parts.portable_factory else None
        preview = parts.preview_factory() if parts.preview_factory else None
        runners = [r for r in (reference, candidate, portable, preview) if r is not None]
        for r in runners:
            r.activate()
        try:
            firsts = first_per_task(parts.samples)
            index = make_vectors(tmp, loaded.spec, firsts, reference, candidate, profile.precision.value,
                                 portable=portable)
            verdicts, passed, on_target = parts.verdicts, parts.passed, None
            if parts.target_check is not None:  # before the golden file: its logits are the vectors' own
                on_target, verdicts, passed = parts.target_check(tmp, {
                    "profile": profile.model_dump(mode="json"), "engine": parts.engine,
                    "target": {"precision": profile.precision.value},
                    "toolchain": toolchain_record(profile.backend.value)})
            image_input = next(i.name for i in loaded.spec.inputs if i.role == "image")
            make_golden(tmp, loaded.spec.preprocessing_spec(), BUNDLE_MASK_MAPPING, [
                {"key": row["task"], "kind": sample.task.kind, "image_path": sample.image_path,
                 "tensor": row["inputs"][image_input], "logits": row["bundle"] or row["reference"]}
                for row, sample in zip(index["tasks"], firsts, strict=True)])
            overlays = segmentation_overlays(loaded.spec, parts.samples, reference, candidate or preview or portable)
        finally:
            for r in runners:
                r.deactivate()

        toolchain = toolchain_record(profile.backend.value)
        model_record = {"name": loaded.name, "checkpoint_sha256": loaded.checkpoint_sha256, "spec": loaded.spec.name,
                        # the export traced the model after these (its parity was checked against the model as written)
                        "deploy_rewrites": list(loaded.spec.deploy_rewrites)}
        (tmp / SBOM_FILE).write_text(device_sbom(out.name, model_record, toolchain["device_packages"], __version__,
                                                 shipped_model_files(tmp, parts.engine.get("model")),
                                                 card_of(parts, profile)))
        manifest = {
            "edgeus_version": __version__, "created": now_utc(),
            "model": model_record,
            "io": io_table(loaded.spec), "preprocessing": loaded.spec.preprocessing,
            "postprocessing": {"mask_mapping": BUNDLE_MASK_MAPPING, "mask_values": [0, 255],
                               "classification": "softmax probabilities; prediction = argmax",
                               "differs_from_uusic25_container": list(RUNTIME_VS_CONTAINER)},
            "tasks": task_table(loaded.spec), "profile": profile.model_dump(mode="json"),
            "target": {"profile": profile.name, "device": profile.hardware.device, "backend": profile.backend.value,
                       "precision": profile.precision.value, "plan": profile.plan},
            "engine": parts.engine, "toolchain": toolchain, "sbom": SBOM_FILE,
            "calibration": ({"fingerprint": parts.calibration["fingerprint"], "samples": parts.calibration["samples"],
                             "per_task": parts.calibration["coverage"]} if parts.calibration else None),
            "data": parts.data, "conformance": {"vectors": VECTORS, "index": INDEX, "golden": GOLDEN, "golden_index": GOLDEN_INDEX},
            "evidence_isa": parts.evidence_isa,
        }
        if on_target is not None:
            manifest["conformance"]["on_target"] = on_target
        accuracy = {**parts.accuracy.to_dict(), **parts.plan_evidence}
        perf = parts.perf.to_dict() if parts.perf is not None else None
        return write_evidence(tmp, manifest, accuracy, perf, verdicts, passed, overlays)


def shipped_model_files(folder: Path, main: str | None) -> dict[str, str]:
    """sha256 of every shipped model file, bundle-relative, the one the device loads first."""
    files = sorted(p for p in (folder / MODEL_DIR).rglob("*") if p.is_file())
    hashes = {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}
    return dict(sorted(hashes.items(), key=lambda item: item[0] != main))


def card_of(parts: BundleParts, profile) -> dict:
    """What the SBOM's model card says (bundle/sbom.model_card): the evidence's data, the plan, each task's
    metric on the internal split with its interval."""
    internal = parts.accuracy.to_dict()["splits"].get("internal", {}).get("tasks", {})
    metrics = {task: {name: {"candidate": m["candidate"], "ci": m.get("candidate_ci")}
                      for name, m in row["metrics"].items() if m.get("candidate") is not None}
               for task, row in internal.items()}
    plan = {"name": profile.plan, "backend": profile.backend.value, "precision": profile.precision.value,
            **({"calibration_fingerprint": parts.calibration["fingerprint"],
                "calibration_samples": parts.calibration["samples"]} if parts.calibration else {})}
    limitations = (["the evidence is synthetic: calibration and validation ran on phantom images, not on patients"]
                   if (parts.data or {}).get("synthetic") else [])
    return {"data": parts.data, "metrics": metrics, "plan": plan, "architecture": parts.loaded.name,
            "limitations": limitations + list(RUNTIME_VS_CONTAINER)}


def write_evidence(folder: Path, manifest: dict, accuracy: dict, perf: dict | None, verdicts: list[dict],
                   passed: bool, overlays: dict[str, bytes]) -> dict:
    """The tail every bundle writer shares (``write_bundle`` at build time, ``finalize`` on the device):
    accuracy.json, perf.json, verdicts.json, their summaries in the manifest, the reports, then the manifest
    itself with the hash of every file. The one place a manifest's evidence is written."""
    from edgeus.report.render import write_reports

    (folder / "accuracy.json").write_text(json.dumps(accuracy, indent=1) + "\n")
    if perf is not None:
        (folder / "perf.json").write_text(json.dumps(perf, indent=1) + "\n")
    (folder / "verdicts.json").write_text(json.dumps({"passed": passed, "verdicts": verdicts}, indent=1) + "\n")
    manifest = {**manifest, "accuracy": accuracy_summary(accuracy), "performance": performance_summary(perf),
                "verdicts": verdicts, "passed": passed}
    shutil.rmtree(folder / "report", ignore_errors=True)  # finalize rewrites the reports of a pending bundle
    write_reports(folder, manifest, accuracy, perf, overlays)
    return finish_manifest(folder, manifest)


def segmentation_overlays(spec, samples: list, reference, candidate) -> dict[str, bytes]:
    """For each segmentation task: image, fp32 mask and candidate mask of its first samples (PNG figures)."""
    from edgeus.contracts.preprocess import read_image, read_mask
    from edgeus.evidence.evaluate import predict
    from edgeus.evidence.metrics import dice, mask_agreement
    from edgeus.report.plots import overlay_panel

    chosen = [s for s in first_per_task(samples, OVERLAY_SAMPLES) if s.task.kind == "segmentation"]
    if candidate is None or not chosen:
        return {}
    ref_pred, cand_pred = predict(reference, spec, chosen), predict(candidate, spec, chosen)
    panels: dict[str, bytes] = {}
    for key in ref_pred:
        rows = []
        for i, sample in enumerate(s for s in chosen if s.task.key == key):
            truth = read_mask(sample.mask_path) if sample.mask_path else None
            ref, cand = ref_pred[key].masks[i], cand_pred[key].masks[i]
            rows.append({"sample": sample.id, "image": read_image(sample.image_path), "truth": truth, "reference": ref,
                         "candidate": cand, "reference_dice": dice(truth, ref) if truth is not None else float("nan"),
                         "candidate_dice": dice(truth, cand) if truth is not None else float("nan"),
                         "agreement_dice": mask_agreement(ref, cand)})
        panels[key] = overlay_panel(key, rows)
    return panels
