"""Ed25519 signatures over a bundle's manifest (``edgeus keygen``, ``edgeus sign``, ``edgeus verify --pubkey``).

The manifest lists the sha256 of every other file, so signing its exact bytes covers the whole bundle: the
hash list alone catches corruption, the signature catches tampering (whoever rewrites a file and its hash
cannot forge the signature without the private key). The signature lives beside the manifest in
``manifest.sig`` (JSON: algorithm, base64 signature, the signer's public-key fingerprint, the manifest's
sha256). Uses the ``cryptography`` package (extra ``edgeus[sign]``; verification needs it on the device too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from edgeus.errors import OutputExistsError, SignatureError
from edgeus.runtime.manifest import MANIFEST, SIGNATURE, BundleError, read_manifest
from edgeus.util.atomic import write_atomic

SIGNATURE_FILE = SIGNATURE
ALGORITHM = "ed25519"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise BundleError("signing needs the 'cryptography' package: pip install 'edgeus[sign]'") from None
    return ed25519, serialization, InvalidSignature


def _raw_public(public_key) -> bytes:
    _, serialization, _ = _crypto()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key) -> str:
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def generate_key(path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """A new Ed25519 key: ``path`` (private, PEM, mode 0600) and ``path.pub`` (public, PEM)."""
    ed25519, serialization, _ = _crypto()
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


def _load(path: str | Path, private: bool):
    ed25519, serialization, _ = _crypto()
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(f"{path}: key file not found") from None
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as exc:
        kind = "private" if private else "public"
        raise SignatureError(f"{path}: not a PEM {kind} key ({exc.__class__.__name__})") from None
    expected = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, expected):
        raise SignatureError(f"{path}: not an Ed25519 key (edgeus signs with Ed25519)")
    return key


def sign_bundle(bundle: str | Path, key_path: str | Path, *, force: bool = False) -> dict:
    """Sign the bundle's manifest (its files must match it first); writes ``manifest.sig``. A signature made
    with another key is replaced only with ``force`` (it may be the vendor's own, made after review)."""
    from edgeus.runtime.manifest import check_files

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    problems = check_files(bundle, manifest)
    if problems:
        raise SignatureError(f"{bundle}: refusing to sign a bundle that does not match its manifest: {problems[0]}")
    key = _load(key_path, private=True)
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


def verify_signature(bundle: str | Path, public_key_path: str | Path) -> dict:
    """Check ``manifest.sig`` against the manifest's bytes and the given public key; returns the record."""
    _, _, invalid_signature = _crypto()
    bundle = Path(bundle)
    public_key = _load(public_key_path, private=False)
    sig_path = bundle / SIGNATURE_FILE
    try:
        record = json.loads(sig_path.read_text())
        signature = base64.b64decode(record["signature"], validate=True)
    except FileNotFoundError:
        raise SignatureError(f"{bundle}: not signed (no {SIGNATURE_FILE}); sign it with 'edgeus sign'") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{sig_path}: malformed signature file ({exc.__class__.__name__})") from None
    if record.get("algorithm") != ALGORITHM:
        raise SignatureError(f"{sig_path}: algorithm {record.get('algorithm')!r}; edgeus verifies {ALGORITHM}")
    if record.get("public_key_sha256") != fingerprint(public_key):
        raise SignatureError(f"{bundle}: signed by another key (fingerprint {str(record.get('public_key_sha256'))[:16]}…, "
                             f"given {fingerprint(public_key)[:16]}…)")
    try:
        public_key.verify(signature, (bundle / MANIFEST).read_bytes())
    except invalid_signature:
        raise SignatureError(f"{bundle}: the signature does not match the manifest: the manifest (and with it the "
                             "files it lists) changed after signing") from None
    return record
