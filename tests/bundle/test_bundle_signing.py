"""Signed bundles: a rewritten file *and* its rewritten hash pass the hash check but not the signature.
Also the device-side toolchain record and the CycloneDX SBOM every bundle carries."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import assert_one_line_error, copy_bundle

from edgeus.runtime.manifest import MANIFEST


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from edgeus.bundle.signing import generate_key

    folder = tmp_path_factory.mktemp("keys")
    return generate_key(folder / "vendor.key"), generate_key(folder / "other.key")


def _tamper(bundle):
    """What an attacker does: change a file and write its new hash and size into the manifest."""
    target = bundle / "report.md"
    target.write_text(target.read_text().replace("Budget verdicts", "Budget verdicts (all fine)"))
    manifest = json.loads((bundle / MANIFEST).read_text())
    data = target.read_bytes()
    manifest["files"]["report.md"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def test_signature_catches_what_the_hash_list_cannot(x86_bundle, keys, tmp_path, run_cli):
    (private, public), (_, other_public) = keys
    bundle = copy_bundle(x86_bundle, tmp_path)
    code, out, err = run_cli("sign", bundle, "--key", private)
    assert code == 0, err
    assert (private.stat().st_mode & 0o777) == 0o600
    code, out, err = run_cli("verify", bundle, "--pubkey", public)
    assert code == 0 and "signature verified" in out, err
    code, _, err = run_cli("verify", bundle, "--pubkey", other_public)
    assert_one_line_error(code, err, "signed by a key not trusted here")
    _tamper(bundle)
    # the hash list alone is fooled; verify says the signature went unchecked, and fails where one is required
    code, out, err = run_cli("verify", bundle, "--json", tmp_path / "unchecked.json")
    assert code == 0 and "signature present, NOT checked" in out, err
    assert json.loads((tmp_path / "unchecked.json").read_text())["signature"]["state"] == "not checked"
    code, _, err = run_cli("verify", bundle, "--require-signature")
    assert_one_line_error(code, err, "NOT checked")
    assert code == 3  # verification failed, not a user error
    code, _, err = run_cli("verify", bundle, "--pubkey", public, "--json", tmp_path / "v.json")
    assert_one_line_error(code, err, "signature does not match the manifest")
    assert code == 3
    assert json.loads((tmp_path / "v.json").read_text())["passed"] is False


def test_trusted_keys_from_the_environment_and_the_runtime_check_the_signature(x86_bundle, keys, tmp_path, run_cli,
                                                                              monkeypatch):
    from edgeus.errors import SignatureError
    from edgeus.runtime import load

    (private, public), (_, other_public) = keys
    bundle = copy_bundle(x86_bundle, tmp_path)
    assert run_cli("sign", bundle, "--key", private)[0] == 0
    monkeypatch.setenv("EDGEUS_TRUSTED_KEYS", str(public.parent))  # a folder: both *.pub files are trusted
    code, out, err = run_cli("verify", bundle, "--require-signature")
    assert code == 0 and "signature verified" in out, err
    with load(bundle, pubkey=public) as model:
        assert model.signature.state == "verified" and model.signature.key
    _tamper(bundle)
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "signature does not match the manifest")
    with pytest.raises(SignatureError, match="does not match the manifest"):
        load(bundle)  # EDGEUS_TRUSTED_KEYS: the runtime checks before anything runs
    monkeypatch.delenv("EDGEUS_TRUSTED_KEYS")
    with pytest.raises(SignatureError, match="does not match the manifest"):
        load(bundle, pubkey=public)
    unsigned = copy_bundle(x86_bundle, tmp_path / "unsigned")
    with pytest.raises(SignatureError, match="not signed .* a signature is required"):
        load(unsigned, require_signature=True)
    assert run_cli("sign", unsigned, "--key", private)[0] == 0
    with pytest.raises(SignatureError, match="not trusted here"):
        load(unsigned, pubkey=other_public)


def test_openssl_alone_verifies_a_signature_and_catches_a_tampered_manifest(x86_bundle, keys, tmp_path, run_cli):
    """The recipe of runtime/signature.py's docstring, run: Ed25519 over manifest.json's bytes, no edgeus."""
    import base64
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command on this machine")
    (private, public), _ = keys
    bundle = copy_bundle(x86_bundle, tmp_path)
    assert run_cli("sign", bundle, "--key", private)[0] == 0
    raw = tmp_path / "manifest.sig.bin"
    raw.write_bytes(base64.b64decode(json.loads((bundle / "manifest.sig").read_text())["signature"]))

    def openssl_verify():
        return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin",
                               "-in", str(bundle / MANIFEST), "-sigfile", str(raw)], capture_output=True, text=True)

    good = openssl_verify()
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout, good.stderr
    _tamper(bundle)
    bad = openssl_verify()
    assert bad.returncode != 0 and "Signature Verified Successfully" not in bad.stdout


def test_unsigned_bundle_and_bad_keys_are_one_line(x86_bundle, keys, tmp_path, run_cli):
    (private, public), _ = keys
    code, _, err = run_cli("verify", x86_bundle, "--pubkey", public)
    assert_one_line_error(code, err, "not signed")
    code, _, err = run_cli("sign", copy_bundle(x86_bundle, tmp_path), "--key", public)  # a public key cannot sign
    assert_one_line_error(code, err, "not a PEM private key")
    code, _, err = run_cli("keygen", private)
    assert_one_line_error(code, err, "exists", "--force")


def test_toolchain_record_and_sbom_list_what_runs_on_the_device(x86_bundle):
    manifest = json.loads((x86_bundle / MANIFEST).read_text())
    toolchain = manifest["toolchain"]
    device = toolchain["device_packages"]
    assert {"edgeus", "numpy", "pillow", "openvino"} <= set(device)
    assert "torch" not in device and "nncf" not in device  # build-side only
    assert toolchain["os"] and "libc" in toolchain and isinstance(toolchain["cpu_isa"], list)
    assert "edgeus_commit" in toolchain
    sbom = json.loads((x86_bundle / manifest["sbom"]).read_text())
    assert manifest["sbom"] in manifest["files"] and sbom["bomFormat"] == "CycloneDX"
    purls = {c.get("purl") for c in sbom["components"]}
    assert f"pkg:pypi/openvino@{device['openvino']}" in purls and f"pkg:pypi/numpy@{device['numpy']}" in purls
    assert any(c["type"] == "machine-learning-model" for c in sbom["components"])


def test_the_sbom_validates_strictly_and_names_the_shipped_model_licences_and_hashes(x86_bundle):
    """CycloneDX 1.6, checked by cyclonedx-python-lib's strict JSON-schema validator; the model component's hash
    is the shipped model file's (not the PyTorch checkpoint's), with a model card; packages carry licences and
    hashes from their installed metadata."""
    import hashlib

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    manifest = json.loads((x86_bundle / MANIFEST).read_text())
    text = (x86_bundle / manifest["sbom"]).read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    model = next(c for c in sbom["components"] if c["type"] == "machine-learning-model")
    shipped = hashlib.sha256((x86_bundle / manifest["engine"]["model"]).read_bytes()).hexdigest()
    assert model["hashes"] == [{"alg": "SHA-256", "content": shipped}]
    assert shipped != manifest["model"]["checkpoint_sha256"]
    card = model["modelCard"]
    assert card["modelParameters"]["datasets"][0]["classification"] == "synthetic phantom images"
    metrics = card["quantitativeAnalysis"]["performanceMetrics"]
    assert {m["slice"] for m in metrics} >= {"Breast_all/segmentation", "Liver/classification"}
    assert {"name": "edgeus:plan:name", "value": manifest["target"]["plan"]} in card["properties"]
    numpy = next(c for c in sbom["components"] if c["name"] == "numpy")
    assert numpy["licenses"] and numpy["hashes"][0]["alg"] == "SHA-256"
