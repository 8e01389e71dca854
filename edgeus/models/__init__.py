"""Model registry: built-in reference models by name, or a user's ``pkg.module:factory``.

``list_models()`` works without torch; ``create_model(name, checkpoint=None)`` imports the model code
only when asked. Built-in entries name their factory and spec lazily so the registry stays importable
in a vendor environment.

Layer 7: may import contracts, data, util, errors.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus.errors import ModelError

if TYPE_CHECKING:
    import torch

    from edgeus.contracts.spec import ModelSpec


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: str          # "module:function" returning an nn.Module
    spec: str             # "module:function" returning the ModelSpec
    description: str
    default_weights: str | None = None  # file name under edgeus/weights/, loaded when no checkpoint is given


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> None:
    _REGISTRY[entry.name] = entry


def list_models() -> list[ModelEntry]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown model {name!r}.{hint} Built-in models: {', '.join(sorted(_REGISTRY))}; "
            "or give a factory as package.module:function"
        )
    return _REGISTRY[name]


def _resolve(target: str) -> Callable:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ModelError(f"{target!r} is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelError(f"cannot import {module_name!r} for {target!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelError(f"module {module_name!r} has no attribute {attr!r}") from None


WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def create_model(name: str, checkpoint: str | Path | None = None, *, pretrained: bool = True) -> torch.nn.Module:
    """Build a registered model (eval mode). With no checkpoint, its embedded default weights if it has any."""
    from edgeus.models.checkpoint import load_checkpoint

    entry = get_entry(name)
    module = _resolve(entry.factory)()
    if checkpoint is not None:
        load_checkpoint(module, checkpoint)
    elif pretrained and entry.default_weights and (WEIGHTS_DIR / entry.default_weights).is_file():
        load_checkpoint(module, WEIGHTS_DIR / entry.default_weights)
    return module.eval()


def model_spec(name: str) -> ModelSpec:
    return _resolve(get_entry(name).spec)()


@dataclass
class LoadedModel:
    """A model ready for export: the module, its contract, and where its weights came from."""

    module: torch.nn.Module
    spec: ModelSpec
    name: str
    checkpoint: str | None
    checkpoint_sha256: str | None


def load_model(model: str, checkpoint: str | Path | None = None, spec_file: str | Path | None = None) -> LoadedModel:
    """Resolve ``model`` (a registered name, ``edgeus models list``, or ``pkg.module:factory``) with an optional
    checkpoint (a state dict .pt/.pth loaded with weights_only, or .safetensors) and spec TOML (required for a
    factory). Returns the torch module in eval mode, its spec and the weights' hash.

    Example::

        import edgeus
        loaded = edgeus.load_model("uniusnet-small")            # the embedded trained weights
        print(loaded.name, loaded.spec.input_names, loaded.checkpoint_sha256[:12])
    """
    import torch

    from edgeus.contracts.spec import load_spec
    from edgeus.models.checkpoint import load_checkpoint
    from edgeus.util.hashing import sha256_file

    if ":" in model:
        if spec_file is None:
            raise ModelError(f"a factory model ({model}) needs --spec FILE describing its inputs and outputs")
        factory = _resolve(model)
        try:
            module = factory()
        except Exception as exc:  # the user's factory failing is their error, reported in one line
            raise ModelError(f"factory {model} raised {exc.__class__.__name__}: {exc}") from None
        if not isinstance(module, torch.nn.Module):
            raise ModelError(f"factory {model} returned {type(module).__name__}, not a torch.nn.Module")
        sha = load_checkpoint(module, checkpoint) if checkpoint else None
        spec = load_spec(spec_file)
        name = spec.name
    else:
        entry = get_entry(model)
        module = create_model(model, checkpoint)
        spec = load_spec(spec_file) if spec_file else model_spec(model)
        if checkpoint:
            sha = sha256_file(checkpoint)
        elif entry.default_weights and (WEIGHTS_DIR / entry.default_weights).is_file():
            sha = sha256_file(WEIGHTS_DIR / entry.default_weights)
            checkpoint = str(WEIGHTS_DIR / entry.default_weights)
        else:
            sha = None
        name = model
    return LoadedModel(module.eval(), spec, name, str(checkpoint) if checkpoint else None, sha)


SPECS_DIR = Path(__file__).resolve().parent / "specs"


def uniusnet_spec() -> ModelSpec:
    from edgeus.contracts.spec import load_spec

    return load_spec(SPECS_DIR / "uniusnet.toml")


register_model(ModelEntry(
    name="uniusnet",
    factory="edgeus.models.uniusnet:uniusnet",
    spec="edgeus.models:uniusnet_spec",
    description="UUSIC25 baseline architecture (Swin-UNet + cls decoder, 65.0 M parameters); untrained "
                "unless --checkpoint is given",
))
register_model(ModelEntry(
    name="uniusnet-small",
    factory="edgeus.models.uniusnet:uniusnet_small",
    spec="edgeus.models:uniusnet_spec",
    description="Same code, embed dim 24, depths 2/2/2/2 (2.9 M parameters); embedded default trained on phantom data",
    default_weights="uniusnet-small-phantom.safetensors",
))
