"""torch module -> Core ML ``.mlpackage`` (an ML program for iOS 17), converted on any OS with coremltools.

Plans: ``fp16`` (Core ML's compute precision for the Neural Engine), ``w8`` (weights linearly quantized to INT8,
symmetric per output channel, activations fp16), ``p6`` (weights palettized to 6 bits, k-means per tensor) and
``w8a8`` (INT8 weights and activations). Weight-only compression is data-free and runs here; W8A8's activation
calibration needs Core ML's predictions, which only macOS has (as do the conformance vectors and any timing), so
a ``w8a8`` package is converted here in fp16 and ``quantize_w8a8`` runs on the Mac (edgeus finalize) over the
calibration images the bundle carries.

``simulate_plan`` is the plan's torch-side simulation, the portable evidence a Linux build can give: the
module with its Linear / Conv weights rounded as the plan stores them (fp16, INT8 per channel, or a 64-entry
palette per tensor), run in fp32. It does not simulate fp16 activations or the Neural Engine's kernels.

Writes, atomically into ``out``: ``model.mlpackage`` and ``model.io.json`` (the spec's input and output names,
which the package also carries).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus.errors import BackendError, first_line

if TYPE_CHECKING:
    from torch import nn

    from edgeus.contracts.spec import ModelSpec

PACKAGE, IO = "model.mlpackage", "model.io.json"
PLANS = ("fp16", "w8", "p6", "w8a8")
W8A8_PACKAGE = "model-w8a8.mlpackage"  # what finalize writes beside the fp16 package it starts from
CALIBRATION_FILE = "calibration.npz"   # a w8a8 bundle's calibration feeds: "{sample}/{input name}" -> array
DEPLOYMENT_TARGET = "iOS17"  # A17 Pro devices ship iOS 17; its ML program ops (and int8 weights) need it


def _coremltools():
    try:
        import coremltools
    except ImportError:
        raise BackendError("coremltools is not installed: pip install 'edgeus[coreml]'") from None
    return coremltools


def convert_to_mlpackage(module: nn.Module, spec: ModelSpec, out: str | Path, *, plan: str = "fp16",
                         force: bool = False) -> Path:
    """Convert ``module`` (eval mode, the spec's inputs at batch 1) into folder ``out`` as the ``plan`` says.

    Example::

        import edgeus
        from edgeus.backends.coreml.convert import convert_to_mlpackage
        loaded = edgeus.load_model("uniusnet-small")
        convert_to_mlpackage(loaded.module, loaded.spec, "coreml-w8", plan="w8")
    """
    if plan not in PLANS:
        raise BackendError(f"Core ML plans are {', '.join(PLANS)}; not {plan!r}")
    out = Path(out)
    if out.exists() and not force:
        raise BackendError(f"{out} exists; pass --force to overwrite it")
    ct = _coremltools()
    import torch

    feeds = spec.example_feeds(1, seed=1)
    args = tuple(torch.from_numpy(feeds[n]) for n in spec.input_names)
    try:
        # coremltools' torch.export frontend takes the ATen decompositions (run_decompositions)
        program = torch.export.export(module.eval(), args, strict=False).run_decompositions({})
        model = ct.convert(program, minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                           compute_precision=ct.precision.FLOAT16,
                           outputs=[ct.TensorType(name=n) for n in spec.output_names])
    except Exception as exc:
        raise BackendError(f"coremltools cannot convert the model: {exc.__class__.__name__}: "
                           f"{first_line(exc, 300)}") from None
    model = _compress(ct, model, plan)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        folder = Path(tmp) / "out"
        folder.mkdir()
        model.save(str(folder / PACKAGE))
        io = {"inputs": [{"name": t.name, "shape": list(t.concrete_shape(1)), "dtype": t.dtype} for t in spec.inputs],
              "outputs": [{"name": t.name, "shape": list(t.concrete_shape(1)), "dtype": t.dtype} for t in spec.outputs],
              "batch": 1, "plan": plan, "deployment_target": DEPLOYMENT_TARGET}
        (folder / IO).write_text(json.dumps(io, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(folder, out)
    return out / PACKAGE


def _compress(ct, model, plan: str):
    """The plan's data-free weight compression (coremltools.optimize.coreml)."""
    if plan in ("fp16", "w8a8"):  # w8a8: both quantizations on the Mac (quantize_w8a8)
        return model
    import coremltools.optimize.coreml as cto

    if plan == "w8":
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel"))
        return cto.linear_quantize_weights(model, config)
    config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=6))
    return cto.palettize_weights(model, config)


def quantize_w8a8(package: Path, samples: list[dict], out: Path) -> Path:
    """On macOS: the fp16 ``package`` with its activations calibrated over ``samples`` (feeds by input name,
    as ``predict`` takes them) and quantized to INT8, then its weights (INT8, symmetric per channel), saved as
    ``out``. coremltools' order: activations on the float model first, then the weights."""
    ct = _coremltools()
    import coremltools.optimize.coreml as cto

    model = ct.models.MLModel(str(package))
    activations = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
    model = cto.linear_quantize_activations(model, activations, samples)
    weights = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel"))
    model = cto.linear_quantize_weights(model, weights)
    model.save(str(out))
    return out


def simulate_plan(module: nn.Module, plan: str) -> nn.Module:
    """A copy of ``module`` whose Linear / Conv weights are rounded as ``plan`` stores them (see the module
    docstring for what it leaves out; ``w8a8``: its weights only, the activations' rounding is known only once
    calibrated on the Mac)."""
    import torch
    from torch import nn

    if plan not in PLANS:
        raise BackendError(f"Core ML plans are {', '.join(PLANS)}; not {plan!r}")
    simulated = copy.deepcopy(module).eval()
    with torch.no_grad():
        for layer in simulated.modules():
            if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
                layer.weight.copy_(_rounded(layer.weight, plan))
    return simulated


def _rounded(weight, plan: str):
    import torch

    if plan == "fp16":
        return weight.to(torch.float16).to(weight.dtype)
    if plan in ("w8", "w8a8"):  # symmetric per output channel, as OpLinearQuantizerConfig(linear_symmetric, per_channel)
        flat = weight.reshape(weight.shape[0], -1)
        scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        q = torch.clamp(torch.round(flat / scale[:, None]), -127, 127)
        return (q * scale[:, None]).reshape(weight.shape).to(torch.float16).to(weight.dtype)
    return _palettized(weight, 6).to(torch.float16).to(weight.dtype)


def _palettized(weight, nbits: int, iterations: int = 12):
    """k-means (Lloyd, in one dimension) over the tensor's values into 2**nbits centroids, initialised at
    quantiles; the nearest centroid by bisection over the midpoints (no n x k distance matrix)."""
    import torch

    values = weight.reshape(-1).float()
    k = min(2 ** nbits, values.numel())
    sample = values if values.numel() <= 1 << 24 else values[torch.randperm(values.numel())[: 1 << 24]]
    centroids = torch.quantile(sample, torch.linspace(0, 1, k)).sort().values

    def nearest(c):
        return torch.bucketize(values, (c[1:] + c[:-1]) / 2)

    for _ in range(iterations):
        index = nearest(centroids)
        sums = torch.zeros(k).index_add_(0, index, values)
        counts = torch.zeros(k).index_add_(0, index, torch.ones_like(values))
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids).sort().values
    return centroids[nearest(centroids)].reshape(weight.shape)
