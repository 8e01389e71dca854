"""ModelSpec: the contract of a model — named inputs and outputs, the task catalog it answers, its
preprocessing and the tolerances its exported/compiled forms must hold against the original.

A spec is data (TOML). Built-in models carry their own; a user's ``pkg.module:factory`` model brings one
with ``--spec FILE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeus._compat import tomllib
from edgeus.contracts.preprocess import Preprocessing
from edgeus.contracts.tasks import TaskCatalog, load_catalog
from edgeus.errors import SpecError

Dim = int | str  # an int is fixed; a string names a dynamic axis ("batch")
DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    name: str
    shape: list[Dim] = Field(min_length=1)
    dtype: Literal["float32", "float16", "int64", "int32"] = "float32"

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        """Shape with every dynamic axis set to ``batch`` (edgeus models have one dynamic axis: batch)."""
        return tuple(batch if isinstance(d, str) else d for d in self.shape)


class InputSpec(TensorSpec):
    role: Literal["image", "prompt", "other"] = "other"


class OutputSpec(TensorSpec):
    kind: Literal["segmentation", "classification", "other"] = "other"


class Tolerances(_Strict):
    """How close an exported or compiled fp32 model must stay to the source model.

    |candidate - reference| <= atol + rtol * |reference| per element, and for segmentation outputs the
    fraction of pixels whose argmax agrees.
    """

    atol: float = Field(default=1e-4, ge=0)
    rtol: float = Field(default=1e-3, ge=0)
    seg_argmax_agreement: float = Field(default=0.999, ge=0, le=1)


def _static_square_side(inputs: list) -> int | None:
    """The side of the image input's fixed square H x W, if it has one (inputs as given, before validation)."""
    for item in inputs:
        fields = item if isinstance(item, dict) else getattr(item, "__dict__", {})
        shape = fields.get("shape") or []
        if fields.get("role") == "image" and len(shape) >= 2 and isinstance(shape[-1], int) \
                and shape[-1] == shape[-2]:
            return shape[-1]
    return None


class ModelSpec(_Strict):
    name: str
    catalog: str = "uusic25"
    inputs: list[InputSpec] = Field(min_length=1)
    outputs: list[OutputSpec] = Field(min_length=1)
    tolerances: Tolerances = Tolerances()
    # Layers of this model that INT8 quantization keeps in float on every backend (regular expressions over
    # ONNX / OpenVINO node names), where measurement showed INT8 costs accuracy: see benchmarks/int8_fidelity.py.
    int8_float_patterns: list[str] = Field(default_factory=list)
    # Deployment rewrites the export applies to a copy of the model before tracing (edgeus/models/rewrites.py);
    # the exported graph is then checked against the unrewritten model like any export. Only for models whose
    # structure a rewrite recognises: it refuses any other in one line.
    deploy_rewrites: list[Literal["swin-window-order"]] = Field(default_factory=list)
    preprocessing: dict = Field(default_factory=lambda: Preprocessing().to_dict())

    @model_validator(mode="before")
    @classmethod
    def _size_from_the_image_input(cls, data):
        """Without ``[preprocessing] size``, images are made the size the image input takes (a model on 32 x 32
        inputs must not be fed the default 224 x 224); fields not given take their defaults."""
        if not isinstance(data, dict) or not isinstance(data.get("preprocessing", {}), dict):
            return data
        given = data.get("preprocessing") or {}
        side = None if "size" in given else _static_square_side(data.get("inputs") or [])
        # every field written out (the defaults for those not given): a bundle's manifest records them all
        return {**data, "preprocessing": {**Preprocessing().to_dict(), **given, **({"size": side} if side else {})}}

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        names = [t.name for t in [*self.inputs, *self.outputs]]
        if len(set(names)) != len(names):
            raise ValueError(f"input/output names must be unique: {names}")
        for t in [*self.inputs, *self.outputs]:
            if t.shape[0] != "batch":
                raise ValueError(f"{t.name}: the first axis must be the dynamic 'batch' axis")
        size = Preprocessing.from_dict(self.preprocessing).size
        image = next((i for i in self.inputs if i.role == "image"), None)
        static = [d for d in (image.shape[-2:] if image else []) if isinstance(d, int)]
        if any(d != size for d in static):
            raise ValueError(f"preprocessing size {size} does not fit the image input {image.name!r} "
                             f"({' x '.join(map(str, image.shape[-2:]))})")
        return self

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def output(self, name: str) -> OutputSpec:
        for o in self.outputs:
            if o.name == name:
                return o
        raise SpecError(f"model {self.name!r} has no output {name!r}; outputs: {', '.join(self.output_names)}")

    def task_catalog(self) -> TaskCatalog:
        return load_catalog(self.catalog)

    def preprocessing_spec(self) -> Preprocessing:
        return Preprocessing.from_dict(self.preprocessing)

    def check_against_catalog(self) -> None:
        """Every task's output must exist; a prompt input must have the catalog's prompt length."""
        catalog = self.task_catalog()
        for task in catalog.tasks:
            self.output(task.output)
        for inp in self.inputs:
            if inp.role == "prompt" and inp.shape[-1] != catalog.prompt_length:
                raise SpecError(
                    f"input {inp.name!r} has {inp.shape[-1]} prompt values; catalog {catalog.name!r} needs "
                    f"{catalog.prompt_length}"
                )

    def example_feeds(self, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
        """Deterministic inputs of the right shapes: images in [0, 1], prompts one-hot per catalog task
        (cycling through the tasks so every task's branch of the graph is exercised)."""
        rng = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {}
        for inp in self.inputs:
            shape = inp.concrete_shape(batch)
            if inp.role == "image":
                arr = rng.random(shape)
            elif inp.role == "prompt":
                catalog = self.task_catalog()
                rows = [catalog.prompt(catalog.tasks[(i + seed) % len(catalog.tasks)]) for i in range(batch)]
                arr = np.stack(rows).reshape(shape)
            else:
                arr = rng.standard_normal(shape)
            feeds[inp.name] = arr.astype(DTYPES[inp.dtype])
        return feeds


def load_spec(path: str | Path) -> ModelSpec:
    """A model spec TOML: the inputs and outputs a model takes and gives, its preprocessing and tolerances,
    checked against its task catalog (``edgeus/models/specs/uniusnet.toml`` is the reference).

    Example::

        import edgeus
        spec = edgeus.load_spec("my_model.spec.toml")
        print(spec.input_names, spec.output_names, spec.preprocessing_spec().size)
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SpecError(f"{path}: {key}: {first['msg']}") from None
    spec.check_against_catalog()
    return spec
