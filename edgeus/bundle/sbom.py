"""A CycloneDX SBOM of what runs on the device: the device-side Python packages and the model itself.

Written with cyclonedx-python-lib (CycloneDX 1.6 JSON) as ``sbom.cdx.json`` in the bundle. References are
package URLs and the serial number is derived from the contents, so the same bundle gives the same SBOM.
"""

from __future__ import annotations

import uuid

SBOM_FILE = "sbom.cdx.json"


def device_sbom(bundle_name: str, model: dict, packages: dict[str, str], edgeus_version: str) -> str:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    identity = uuid.uuid5(uuid.NAMESPACE_URL, f"edgeus:{bundle_name}:{model.get('checkpoint_sha256')}:"
                                             + ",".join(f"{k}={v}" for k, v in sorted(packages.items())))
    bom = Bom(serial_number=identity)
    root = Component(name=bundle_name, version=edgeus_version, type=ComponentType.APPLICATION,
                     bom_ref=f"bundle:{bundle_name}", description="edgeus bundle (vendor runtime + model)")
    bom.metadata.component = root
    weights = Component(name=model["name"], type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=f"model:{model['name']}",
                        version=(model.get("checkpoint_sha256") or "untrained")[:12],
                        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=model["checkpoint_sha256"])]
                        if model.get("checkpoint_sha256") else [])
    libraries = []
    for name, version in packages.items():
        purl = PackageURL(type="pypi", name=name, version=version)
        libraries.append(Component(name=name, version=version, type=ComponentType.LIBRARY, purl=purl,
                                   bom_ref=purl.to_string()))
    for component in (weights, *libraries):
        bom.components.add(component)
    bom.register_dependency(root, [weights, *libraries])
    return JsonV1Dot6(bom).output_as_string(indent=1) + "\n"
