"""Checking a bundle's Ed25519 signature (``manifest.sig``), where the bundle is used: ``edgeus verify`` and
``runtime.load(..., pubkey=...)``. Signing and keys are edgeus/bundle/signing.py.

The manifest lists every other file's sha256, so anyone who edits a file can re-hash it into the manifest: the
hashes then match and only the signature, over the manifest's exact bytes, shows the edit. A signature checks
nothing without a key the verifier trusts: ``--pubkey`` / ``pubkey=`` name one, ``EDGEUS_TRUSTED_KEYS`` a list
(files or folders of ``*.pub``, separated like PATH). With none, a present signature is reported "NOT checked";
``require`` makes that, or a missing signature, a failure.

Without edgeus: the signature is plain Ed25519 over manifest.json's bytes, so OpenSSL 3 checks it alone::

    python3 -c "import json,base64,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open('manifest.sig'))['signature']))" > manifest.sig.bin
    openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in manifest.json -sigfile manifest.sig.bin
    sha256sum -c <(python3 -c "import json; [print(h, n) for n, h in json.load(open('manifest.json'))['files'].items()]")

(the last line checks the files against the manifest the signature covers; tests/runtime/test_signature.py runs
the first two).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeus.errors import BundleError, SignatureError, SignatureMismatch
from edgeus.runtime.manifest import MANIFEST, SIGNATURE

ALGORITHM = "ed25519"
TRUSTED_KEYS_ENV = "EDGEUS_TRUSTED_KEYS"


def crypto():
    """The ``cryptography`` modules signing needs (extra ``edgeus[sign]``), imported when a signature is used."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise BundleError("signatures need the 'cryptography' package: pip install 'edgeus[sign]'") from None
    return ed25519, serialization, InvalidSignature


def load_key(path: str | Path, private: bool):
    ed25519, serialization, _ = crypto()
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(f"{path}: key file not found") from None
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read the key ({exc.__class__.__name__})") from None
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


def fingerprint(public_key) -> str:
    """sha256 of the raw 32-byte public key: what ``manifest.sig`` names its signer by."""
    _, serialization, _ = crypto()
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def trusted_keys(explicit: list[str | Path] | None = None) -> list[Path]:
    """The public keys to check against: ``explicit`` if given, else ``EDGEUS_TRUSTED_KEYS`` (files, or folders
    whose ``*.pub`` files count), else none."""
    if explicit:
        return [Path(p) for p in explicit]
    keys: list[Path] = []
    for part in filter(None, os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep)):
        path = Path(part)
        if path.is_dir():
            keys += sorted(path.glob("*.pub"))
        elif path.is_file():
            keys.append(path)
        else:
            raise SignatureError(f"{TRUSTED_KEYS_ENV}: {path} is neither a key file nor a folder of *.pub keys")
    return keys


def verify_signature(bundle: str | Path, public_keys: list[str | Path] | str | Path) -> dict:
    """Check ``manifest.sig`` against the manifest's bytes with the one of ``public_keys`` that signed it;
    returns the signature record."""
    _, _, invalid_signature = crypto()
    bundle = Path(bundle)
    keys = [public_keys] if isinstance(public_keys, str | Path) else list(public_keys)
    loaded = {fingerprint(k): k for k in (load_key(p, private=False) for p in keys)}
    sig_path = bundle / SIGNATURE
    try:
        record = json.loads(sig_path.read_text())
        signature = base64.b64decode(record["signature"], validate=True)
    except FileNotFoundError:
        raise SignatureMismatch(f"{bundle}: not signed (no {SIGNATURE}); sign it with 'edgeus sign'") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignatureMismatch(f"{sig_path}: malformed signature file ({exc.__class__.__name__})") from None
    if record.get("algorithm") != ALGORITHM:
        raise SignatureMismatch(f"{sig_path}: algorithm {record.get('algorithm')!r}; edgeus verifies {ALGORITHM}")
    public_key = loaded.get(record.get("public_key_sha256"))
    if public_key is None:
        given = ", ".join(f"{fp[:16]}…" for fp in loaded)
        raise SignatureMismatch(f"{bundle}: signed by a key not trusted here (fingerprint "
                             f"{str(record.get('public_key_sha256'))[:16]}…; trusted: {given})")
    try:
        public_key.verify(signature, (bundle / MANIFEST).read_bytes())
    except invalid_signature:
        raise SignatureMismatch(f"{bundle}: the signature does not match the manifest: the manifest (and with it the "
                             "files it lists) changed after signing") from None
    return record


@dataclass
class SignatureCheck:
    state: str                 # verified | not checked | absent
    key: str | None = None     # the signer's fingerprint
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def check_signature(bundle: str | Path, keys: list[Path], require: bool = False) -> SignatureCheck:
    """The signature's state with these trusted ``keys``: verified (or SignatureError), present but NOT checked
    (no key), or absent. ``require``: only "verified" passes."""
    bundle = Path(bundle)
    present = (bundle / SIGNATURE).exists()
    if keys:
        record = verify_signature(bundle, keys)  # a missing or wrong signature raises, naming why
        return SignatureCheck("verified", record["public_key_sha256"],
                              f"signature verified: Ed25519, key {record['public_key_sha256'][:16]}…")
    if not present:
        if require:
            raise SignatureMismatch(f"{bundle}: not signed (no {SIGNATURE}) and a signature is required")
        return SignatureCheck("absent", None, "not signed")
    signer = None
    try:
        signer = str(json.loads((bundle / SIGNATURE).read_text()).get("public_key_sha256"))
    except (OSError, ValueError, AttributeError):
        pass
    message = (f"signature present, NOT checked: no trusted key (--pubkey KEY.pub or {TRUSTED_KEYS_ENV}); the file "
               "hashes alone do not show an edit re-hashed into the manifest")
    if require:
        raise SignatureMismatch(f"{bundle}: {message}")
    return SignatureCheck("not checked", signer, message)
