"""Ed25519 signatures over a bundle's manifest (``edgeus keygen``, ``edgeus sign``, ``edgeus verify --pubkey``).

The manifest lists the sha256 of every other file, so signing its exact bytes covers the whole bundle: the
hash list alone catches corruption, the signature catches tampering (whoever rewrites a file and its hash
cannot forge the signature without the private key). The signature lives beside the manifest in
``manifest.sig`` (JSON: algorithm, base64 signature, the signer's public-key fingerprint, the manifest's
sha256). Uses the ``cryptography`` package (extra ``edgeus[sign]``; verification needs it on the device too). Checking
a signature (and verifying it with OpenSSL alone) is edgeus/runtime/signature.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from edgeus.errors import OutputExistsError, SignatureError
from edgeus.runtime.manifest import MANIFEST, SIGNATURE, read_manifest
from edgeus.runtime.signature import ALGORITHM, crypto, fingerprint, load_key
from edgeus.util.atomic import write_atomic

SIGNATURE_FILE = SIGNATURE


def generate_key(path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """A new Ed25519 key: ``path`` (private, PEM, mode 0600) and ``path.pub`` (public, PEM)."""
    ed25519, serialization, _ = crypto()
    path = Path(path)
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists() and not force:
            raise OutputExistsError(f"{target} exists; pass --force to overwrite it")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    write_atomic(path, private_pem)
    os.chmod(path, 0o600)  # a private key is readable by its owner only
    write_atomic(public_path, public_pem)
    return path, public_path


def sign_bundle(bundle: str | Path, key_path: str | Path, *, force: bool = False) -> dict:
    """Sign the bundle's manifest (its files must match it first); writes ``manifest.sig``. A signature made
    with another key is replaced only with ``force`` (it may be the vendor's own, made after review)."""
    from edgeus.runtime.manifest import check_files

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    problems = check_files(bundle, manifest)
    if problems:
        raise SignatureError(f"{bundle}: refusing to sign a bundle that does not match its manifest: {problems[0]}")
    key = load_key(key_path, private=True)
    existing = _existing_signer(bundle)
    if existing is not None and existing != fingerprint(key.public_key()) and not force:
        raise SignatureError(f"{bundle} is already signed by another key (fingerprint {existing[:16]}…); pass --force "
                             "to replace that signature with this key's")
    data = (bundle / MANIFEST).read_bytes()
    record = {"algorithm": ALGORITHM, "signed_file": MANIFEST, "manifest_sha256": hashlib.sha256(data).hexdigest(),
              "public_key_sha256": fingerprint(key.public_key()),
              "signature": base64.b64encode(key.sign(data)).decode("ascii")}
    write_atomic(bundle / SIGNATURE_FILE, json.dumps(record, indent=1) + "\n")
    return record


def _existing_signer(bundle: Path) -> str | None:
    """The key fingerprint of the bundle's current signature; '?' for an unreadable one, None when unsigned."""
    path = bundle / SIGNATURE_FILE
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text())["public_key_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"
