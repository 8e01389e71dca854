"""Errors a user can fix, all of them here, each with its exit code.

Anything raised as an ``EdgeusError`` is printed by the CLI as one line (no traceback) and exits with its
``exit_code``: 1 (a user error or the environment), 2 for ``BudgetFailed`` (a gate blocked), 3 for
``VerifyFailed`` and ``SignatureMismatch`` (a bundle that does not verify: a hash, a vector or its signature),
64 for ``UsageError`` (a numeric option out of range, like argparse's own usage errors). Every other exception
is a bug in edgeus: the CLI says so in one line and exits 70 (``-v`` shows the traceback). The modules that raise them also import them under
their old homes (``edgeus.runtime.manifest.BundleError``, ...), which callers may keep using.
"""


class EdgeusError(Exception):
    """A problem with the user's input or environment, with a message saying how to fix it."""

    exit_code = 1


class ProfileError(EdgeusError):
    """A device profile is missing, unknown or malformed."""


class SpecError(EdgeusError):
    """A model spec (inputs, outputs, tasks) is malformed or does not match the model."""


class ModelError(EdgeusError):
    """A model name, factory or checkpoint cannot be used."""


class CheckpointError(ModelError):
    """A checkpoint is missing, corrupt, unsafe or does not fit the model."""


class ExportError(EdgeusError):
    """The exported ONNX graph is invalid or disagrees with the source model."""


class DataError(EdgeusError):
    """Input data (images, masks, record lists) is missing or malformed."""


class BackendError(EdgeusError):
    """A backend runtime is not installed or cannot run the model."""


class QuantizeError(EdgeusError):
    """Quantization cannot be done as asked (unsupported precision, failed tool, malformed result)."""


class OutputExistsError(EdgeusError):
    """The output exists and --force was not given."""


class OutputLocked(EdgeusError):
    """Another edgeus process is writing to this output folder."""


class CompileError(EdgeusError):
    """The model cannot be compiled for this profile."""


class BundleError(EdgeusError):
    """A bundle is missing, malformed, tampered with or cannot run here."""


class VerifyFailed(BundleError):
    """The bundle does not verify (tampered, incomplete or non-conforming on this machine)."""

    exit_code = 3


class SignatureError(BundleError):
    """A key or signature cannot be used (a key file missing or not Ed25519, a bundle refused for signing)."""


class SignatureMismatch(SignatureError):
    """The bundle's signature does not verify: missing where required, malformed, by an untrusted key, or not
    matching the manifest."""

    exit_code = 3


class UsageError(EdgeusError):
    """A command-line value out of its range: a usage error, like argparse's own (sysexits' EX_USAGE)."""

    exit_code = 64


class EmulatorUnavailable(EdgeusError):
    """No emulator (or no userland for it) here: the target ISA cannot be checked on this machine."""


class BudgetFailed(EdgeusError):
    """At least one budget gate failed."""

    exit_code = 2


class EngineBuildError(BackendError):
    """TensorRT could not parse the model or build an engine with these settings."""


class FarmError(EdgeusError):
    """The farm cannot do what was asked (no Ray, no head, no device for a profile)."""


def first_line(exc: BaseException, limit: int = 240) -> str:
    """The first meaningful line of a library's exception text (SDK messages and C++ checks run long)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else exc.__class__.__name__)[:limit]


# errno -> what to do about it, for OSErrors that are the user's environment, not a bug in edgeus
_OS_HINTS = {
    "ENOSPC": "no space left on the device: free space or write elsewhere (-o)",
    "EDQUOT": "disk quota exceeded: free space or write elsewhere (-o)",
    "EACCES": "permission denied: choose a folder you can write to, or fix its permissions",
    "EPERM": "operation not permitted here: choose another folder",
    "EROFS": "read-only file system: write elsewhere (-o)",
    "ENOTDIR": "a file stands where a folder is expected in this path",
    "EISDIR": "a folder stands where a file is expected",
    "ENOENT": "no such file or folder",
    "ENAMETOOLONG": "the file name is too long",
    "EEXIST": "it exists already (pass --force to replace it)",
    "EINVAL": "this file system refuses the operation (e.g. /proc or /sys)",
    "EIO": "input/output error on the device",
}


def user_error(exc: BaseException) -> EdgeusError | None:
    """The one-line user error an exception stands for, or None when it is a bug (keep the traceback).

    Besides edgeus's own errors: OSErrors from the user's environment (disk full, permissions, a file where a
    folder should be, /proc), running out of memory, Pillow's decompression-bomb guard, and malformed JSON or
    TOML."""
    import errno
    import sys

    if isinstance(exc, EdgeusError):
        return exc
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        where = exc.filename or ""
        if exc.filename2:
            where = f"{where} -> {exc.filename2}"
        hint = _OS_HINTS.get(name, exc.strerror or name)
        if name == "EEXIST" and exc.filename and not exc.filename2 and _is_file(exc.filename):
            # mkdir of a folder the path needs, where a file stands: --force replaces outputs, never their parents
            hint = "a file stands where a folder is expected in this path (move or remove that file)"
        return EdgeusError(f"{where}: {hint} ({name})" if where else f"{hint} ({name})")
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(exc, pil.DecompressionBombError):
        return EdgeusError(f"image too large to decode safely (Pillow's decompression-bomb limit): {exc}")
    if isinstance(exc, MemoryError):  # numpy says how much it could not allocate; the machine is the limit
        return EdgeusError(f"out of memory: {exc or 'an allocation failed'}")
    if exc.__class__.__name__ in ("JSONDecodeError", "TOMLDecodeError"):
        kind = "JSON" if exc.__class__.__name__ == "JSONDecodeError" else "TOML"
        return EdgeusError(f"malformed {kind}: {exc}")
    return None


def _is_file(path) -> bool:
    import os

    try:
        return os.path.exists(path) and not os.path.isdir(path)
    except (OSError, ValueError):
        return False
