"""A CycloneDX SBOM of what runs on the device: the device-side Python packages and the shipped model.

Written with cyclonedx-python-lib (CycloneDX 1.6 JSON) as ``sbom.cdx.json`` in the bundle; a test validates it
with the library's strict JSON-schema validator. References are package URLs and the serial number is derived
from the contents, so the same bundle gives the same SBOM.

- **Packages**: name, version, purl, the licence the installed distribution declares (its metadata's
  ``License-Expression``, else ``License``, else its ``License ::`` classifiers), and a sha256 of the
  distribution's installed ``RECORD`` (the list of every installed file with its own hash: what pins the
  installation; the wheel itself is not kept by pip).
- **The model**: a ``machine-learning-model`` component whose hash is the shipped model file's (``model/...``,
  what the device loads), every other shipped model file as a property, the PyTorch checkpoint's hash as the
  model it was built from, and a CycloneDX **model card**: the task, the evidence's data (provenance: phantom or
  named data, synthetic or not, images per task), the deployment plan and its calibration, and each task's
  metrics with their 95 % intervals. cyclonedx-python-lib 11 has no model-card classes, so the card is added to
  the component's JSON after the library wrote it and the whole document is then validated strictly.
"""

from __future__ import annotations

import hashlib
import json
import uuid

SBOM_FILE = "sbom.cdx.json"


def _licence(name: str) -> str | None:
    from importlib import metadata

    try:
        meta = metadata.metadata(name)
    except metadata.PackageNotFoundError:
        return None
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    declared = (meta.get("License") or "").strip()
    if declared and len(declared) < 100 and "\n" not in declared:  # some packages paste the whole licence text
        return declared
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " OR ".join(classifiers) or None


def _record_sha256(name: str) -> str | None:
    from importlib import metadata

    try:
        record = metadata.distribution(name).read_text("RECORD")
    except metadata.PackageNotFoundError:
        return None
    return hashlib.sha256(record.encode()).hexdigest() if record else None


def model_card(card: dict) -> dict:
    """The CycloneDX 1.6 ``modelCard`` of the shipped model from what the build measured."""
    data = card.get("data") or {}
    dataset = {"type": "dataset", "name": data.get("source", "unknown"),
               "contents": {"properties": [{"name": f"edgeus:{k}", "value": str(v)} for k, v in sorted(data.items())
                                           if k in ("source", "synthetic", "generator", "seed", "root_name",
                                                    "content_sha256", "files")]},
               "classification": "synthetic phantom images" if data.get("synthetic") else "clinical images"}
    metrics = []
    for task, row in sorted(card.get("metrics", {}).items()):
        for name, value in row.items():
            entry = {"type": name, "value": f"{value['candidate']:.4f}", "slice": task}
            if value.get("ci") and None not in value["ci"]:
                entry["confidenceInterval"] = {"lowerBound": f"{value['ci'][0]:.4f}", "upperBound": f"{value['ci'][1]:.4f}"}
            metrics.append(entry)
    plan = card.get("plan", {})
    return {
        "modelParameters": {
            "approach": {"type": "supervised"},
            "task": "segmentation and classification of ultrasound images, one prompt-conditioned network",
            "architectureFamily": card.get("architecture", "unknown"),
            "datasets": [dataset],
            "inputs": [{"format": "image (uint8 RGB or grayscale, preprocessed to the manifest's size)"}],
            "outputs": [{"format": "segmentation mask {0, 255} at the image size; class probabilities"}],
        },
        "quantitativeAnalysis": {"performanceMetrics": metrics},
        "considerations": {"technicalLimitations": card.get("limitations", [])},
        "properties": [{"name": f"edgeus:plan:{k}", "value": str(v)} for k, v in sorted(plan.items())],
    }


def device_sbom(bundle_name: str, model: dict, packages: dict[str, str], edgeus_version: str,
                model_files: dict[str, str] | None = None, card: dict | None = None) -> str:
    """``model_files``: shipped model file (bundle-relative) -> sha256, the first the file the device loads."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    model_files = model_files or {}
    shipped = next(iter(model_files.values()), None)
    identity = uuid.uuid5(uuid.NAMESPACE_URL, f"edgeus:{bundle_name}:{shipped or model.get('checkpoint_sha256')}:"
                                             + ",".join(f"{k}={v}" for k, v in sorted(packages.items())))
    bom = Bom(serial_number=identity)
    root = Component(name=bundle_name, version=edgeus_version, type=ComponentType.APPLICATION,
                     bom_ref=f"bundle:{bundle_name}", description="edgeus bundle (vendor runtime + model)")
    bom.metadata.component = root
    properties = [Property(name=f"edgeus:file:{rel}", value=f"sha256:{sha}") for rel, sha in model_files.items()]
    if model.get("checkpoint_sha256"):
        properties.append(Property(name="edgeus:built-from-checkpoint", value=f"sha256:{model['checkpoint_sha256']}"))
    weights = Component(name=model["name"], type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=f"model:{model['name']}",
                        version=(shipped or model.get("checkpoint_sha256") or "untrained")[:12],
                        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=shipped)] if shipped else [],
                        properties=properties,
                        description=f"the shipped model, {next(iter(model_files), 'not shipped')}")
    libraries = []
    for name, version in packages.items():
        purl = PackageURL(type="pypi", name=name, version=version)
        record = _record_sha256(name)
        declared = _licence(name)  # an SPDX expression or id where it is one, else the name as declared
        licence = LicenseFactory().make_from_string(declared) if declared else None
        libraries.append(Component(
            name=name, version=version, type=ComponentType.LIBRARY, purl=purl, bom_ref=purl.to_string(),
            licenses=[licence] if licence is not None else [],
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=record)] if record else [],
            properties=[Property(name="edgeus:hash-of", value="the installed distribution's RECORD file")]
            if record else []))
    for component in (weights, *libraries):
        bom.components.add(component)
    bom.register_dependency(root, [weights, *libraries])
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    if card is not None:
        for component in document.get("components", []):
            if component.get("bom-ref") == f"model:{model['name']}":
                component["modelCard"] = model_card(card)
    return json.dumps(document, indent=1) + "\n"
