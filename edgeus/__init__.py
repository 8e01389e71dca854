"""edgeus: compile, quantize, validate and ship universal ultrasound models to edge devices.

The public Python API, imported lazily (``import edgeus`` costs nothing; torch, NNCF and the runtimes load
when a function that needs them is first used)::

    import edgeus
    result = edgeus.build(target="cpu-x86-scanner", out="dist")              # the whole flow -> a bundle
    loaded = edgeus.load_model("uniusnet-small")                             # torch module + spec + checkpoint hash
    report = edgeus.export(loaded, Path("model.onnx"))                       # stage 1 alone
    edgeus.quantize(...), edgeus.compile(...), edgeus.validate(...), edgeus.profile(...)   # stages 2-5 alone
    with edgeus.runtime.load(result.run_dir) as bundle:                       # the vendor side
        mask = bundle.predict("scan.png", "Breast", "segmentation")

Packages, top layer first (each may import only its own layer and those below; tests/test_layers.py checks):
cli, training, api -> pipeline -> stages -> bundle, report, uusic25 -> runtime, backends -> evidence ->
contracts, data, models -> util, errors.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> (module, attribute): resolved on first use
_API = {
    "build": ("edgeus.api", "build"),
    "BuildOptions": ("edgeus.pipeline.flow", "BuildOptions"),
    "BuildResult": ("edgeus.pipeline.flow", "BuildResult"),
    "export": ("edgeus.stages.export", "export_onnx"),
    "quantize": ("edgeus.stages.quantize", "quantize"),
    "QuantizeOptions": ("edgeus.contracts.profiles", "QuantizeOptions"),
    "compile": ("edgeus.stages.compile", "compile_model"),
    "validate": ("edgeus.api", "validate"),
    "open_runner": ("edgeus.api", "open_runner"),
    "validation_splits": ("edgeus.api", "validation_splits"),
    "calibration_plan": ("edgeus.api", "calibration_plan"),
    "profile": ("edgeus.stages.profile", "profile_model"),
    "load_profile": ("edgeus.contracts.profiles", "load_profile"),
    "load_model": ("edgeus.models", "load_model"),
    "load_spec": ("edgeus.contracts.spec", "load_spec"),
    "read_dataset": ("edgeus.data.uusic25", "read_dataset"),
    "generate_phantom": ("edgeus.data.phantom", "generate_phantom"),
    "runtime": ("edgeus.runtime", None),
    "EdgeusError": ("edgeus.errors", "EdgeusError"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'edgeus' has no attribute {name!r}")
    module_name, attribute = _API[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
