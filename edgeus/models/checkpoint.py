"""Safe checkpoint loading.

Only tensors are read: ``torch.load(weights_only=True)`` or safetensors. A pickle that carries code
(any object beyond tensors and plain containers) is refused, never executed. Common wrappings are
unwrapped: ``{"model": sd}``, ``{"state_dict": sd}`` and the ``module.`` prefix of DDP checkpoints.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus.errors import CheckpointError, first_line
from edgeus.util.hashing import sha256_file  # noqa: F401 -- re-exported for callers

if TYPE_CHECKING:
    import torch

SAFETENSORS_SUFFIXES = {".safetensors"}
WRAPPER_KEYS = ("state_dict", "model")


def _read_raw(path: Path) -> object:
    import torch

    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from None
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it was not written with; the weights-only unpickler
            # either reads the file or raises, which is handled below.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()
        detail = next((line.strip() for line in reason if "GLOBAL" in line or "Unsupported" in line), "")
        raise CheckpointError(
            f"{path}: refused: the pickle holds objects other than tensors (code could run on load)"
            f"{': ' + detail if detail else ''}; re-save it with torch.save(model.state_dict()) or as safetensors"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError, IndexError,
            AttributeError, TypeError) as exc:
        # a text file or random bytes fed to the (legacy) unpickler fails with whatever the garbage hits:
        # KeyError/IndexError from its memo, TypeError/AttributeError from a half-built object
        first = first_line(exc, 200)
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint, not a torch state dict "
                              f"({exc.__class__.__name__}: {first})") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{name: tensor}`` dict, unwrapped and without ``module.``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    raw = _read_raw(path)
    if isinstance(raw, dict):
        for key in WRAPPER_KEYS:
            if key in raw and isinstance(raw[key], dict):
                raw = raw[key]
                break
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path}: expected a state dict (name -> tensor), found {type(raw).__name__}")
    not_tensors = [k for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries that are not tensors: {', '.join(map(str, not_tensors[:3]))}")
    if all(k.startswith("module.") for k in raw):
        raw = {k[len("module."):]: v for k, v in raw.items()}
    return raw


def _names(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load with strict key and shape checking, naming what does not fit."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise CheckpointError(f"{source}: missing keys: {_names(missing)}")
    if unexpected:
        raise CheckpointError(f"{source}: unexpected keys: {_names(unexpected)}")
    for key, tensor in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(got.shape)}, the model expects {tuple(tensor.shape)}"
            )
        if got.dtype != tensor.dtype:
            raise CheckpointError(f"{source}: {key} has dtype {got.dtype}, the model expects {tensor.dtype}")
    module.load_state_dict(state, strict=True)


def load_checkpoint(module: torch.nn.Module, path: str | Path) -> str:
    """Load ``path`` into ``module`` strictly; returns the file's sha256 for the manifest."""
    load_state_dict_strict(module, read_state_dict(path), str(path))
    return sha256_file(path)
