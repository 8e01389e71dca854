"""torch module -> ExecuTorch ``.pte`` lowered to XNNPACK: fp32; fp16 (the weights and every activation in
half precision, XNNPACK's f16 kernels: ARM's FP16 arithmetic on a phone; the program's inputs and outputs stay
fp32, cast at its edges, so an app feeds the same frames); or INT8 (pt2e, XNNPACK's symmetric quantizer,
per-channel weights) with the modules a float scope names left in float.

Writes, atomically into ``out``: ``model.pte``; ``model.io.json`` (input and output names, shapes and dtypes:
a ``.pte`` carries none); ``delegation.json`` (how many graph nodes XNNPACK runs and which operators fell back
to ExecuTorch's portable kernels, per operator: the reason an INT8 plan is not faster is usually there).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus.errors import BackendError, first_line

if TYPE_CHECKING:
    from torch import nn

    from edgeus.contracts.spec import ModelSpec

PTE, IO, DELEGATION = "model.pte", "model.io.json", "delegation.json"
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class Delegation:
    delegated_subgraphs: int
    delegated_nodes: int
    portable_nodes: int                                       # left to ExecuTorch's portable (reference) kernels
    portable_by_operator: dict[str, int] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        total = self.delegated_nodes + self.portable_nodes
        return self.delegated_nodes / total if total else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "coverage": round(self.coverage, 4)}

    def describe(self) -> str:
        top = ", ".join(f"{op} x{n}" for op, n in sorted(self.portable_by_operator.items(), key=lambda kv: -kv[1])[:5])
        return (f"{self.coverage:.0%} of {self.delegated_nodes + self.portable_nodes} nodes on XNNPACK in "
                f"{self.delegated_subgraphs} subgraphs" + (f"; portable kernels: {top}" if top else ""))


@dataclass
class LoweredModel:
    path: Path
    precision: str
    float_modules: list[str]
    delegation: Delegation
    size_bytes: int


def module_node_name(module_name: str) -> str:
    """The ONNX export's node-name prefix of a torch module ("swin.layers.0.attn" -> "/swin/layers.0/attn/"):
    the model spec's float patterns are written over ONNX node names, and select the same layers here."""
    return "/" + module_name.replace(".", "/") + "/"


def float_modules(module: nn.Module, patterns: list[str]) -> list[str]:
    """The outermost modules whose node-name prefix a float pattern matches (their children go with them)."""
    compiled = [re.compile(p) for p in patterns]
    chosen: list[str] = []
    for name, _ in module.named_modules():
        if not name or any(name.startswith(parent + ".") for parent in chosen):
            continue
        prefix = module_node_name(name)
        # a pattern like ".*/attn/proj/.*" matches a node name below the module: try a node inside it
        if any(p.fullmatch(prefix + "MatMul") or p.fullmatch(prefix) for p in compiled):
            chosen.append(name)
    return chosen


def _example_args(spec: ModelSpec) -> tuple:
    import torch

    feeds = spec.example_feeds(1, seed=1)
    return tuple(torch.from_numpy(feeds[n]) for n in spec.input_names)


def _export(module: nn.Module, args: tuple, what: str):
    import torch

    try:
        return torch.export.export(module, args, strict=False)
    except Exception as exc:
        raise BackendError(f"torch.export cannot capture the model for ExecuTorch ({what}): "
                           f"{exc.__class__.__name__}: {first_line(exc, 300)}") from None


def _in_half(module: nn.Module) -> nn.Module:
    """A half-precision copy of ``module`` taking and returning fp32 tensors (the casts lower to XNNPACK's
    convert operators). A copy: the caller's module stays fp32."""
    import copy

    import torch

    class HalfCompute(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = copy.deepcopy(inner).half().eval()

        def forward(self, *args):
            out = self.inner(*(a.half() for a in args))
            return tuple(o.float() for o in out) if isinstance(out, (tuple, list)) else out.float()

    return HalfCompute(module).eval()


def _quantize(module: nn.Module, args: tuple, calibration: Iterable[tuple], keep_float: list[str]):
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    # The GEMMs only (Linear, Conv2d), static, weights per channel. XNNPACK's global configuration also quantizes
    # the residual adds, the activation products and the rest of the transformer's glue: on uniusnet-small
    # (60 phantom calibration images) that moved the segmentation logits by up to 7.5 and the classification
    # logits by 2.3-2.9 (argmax agreement 0.957), the GEMMs alone by 0.46 and 0.03 (0.999).
    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer().set_module_type(torch.nn.Linear, config).set_module_type(torch.nn.Conv2d, config)
    if keep_float:
        # XNNPACK's quantizer cannot unset a module (set_module_name(name, None) is refused): filter its nodes
        quantizer.set_filter_function(lambda node: not _inside(node, keep_float))
    prepared = prepare_pt2e(_export(module, args, "INT8 preparation").module(), quantizer)
    seen = 0
    with torch.no_grad():
        for batch in calibration:
            prepared(*batch)
            seen += 1
    if not seen:
        raise BackendError("INT8 for ExecuTorch needs calibration images; none were given")
    return convert_pt2e(prepared)


def _inside(node, modules: list[str]) -> bool:
    """Whether an exported graph node was traced inside one of ``modules`` (its nn_module_stack)."""
    for path, _ in (node.meta.get("nn_module_stack") or {}).values():
        path = re.sub(r"^L\['self'\]\.?", "", path)
        if any(path == m or path.startswith(m + ".") for m in modules):
            return True
    return False


_MISSING_KERNEL = re.compile(r"(aten::[A-Za-z0-9_.]+|aten\.[A-Za-z0-9_.]+)")
_NOT_CORE_ATEN = re.compile(r"Operator (?:torch\._ops\.)?(aten\.[A-Za-z0-9_.]+) is not in Core ATen opset")


def _lower(program) -> tuple[bytes, Delegation]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    try:
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        info = get_delegation_info(edge.exported_program().graph_module)
        lowered = edge.to_executorch()
        buffer = lowered.buffer
    except Exception as exc:
        text = str(exc)
        op = _NOT_CORE_ATEN.search(text)
        if op:  # no ExecuTorch kernel takes it and no decomposition removes it
            raise BackendError(f"ExecuTorch cannot lower the operator {op.group(1)}: it is not in the Core ATen "
                               "opset ExecuTorch compiles, and no kernel or decomposition covers it") from None
        op = _MISSING_KERNEL.search(text)
        raise BackendError(("ExecuTorch cannot lower the operator " + op.group(1) + ": " if op else
                            "ExecuTorch cannot lower the model: ") + first_line(exc, 300)) from None
    _refuse_missing_kernels(lowered)
    # getitem picks a tuple element (a delegate's outputs): bookkeeping, not a kernel
    portable = {op: b.non_delegated for op, b in info.delegation_by_operator.items()
                if b.non_delegated and op != "getitem"}
    return buffer, Delegation(info.num_delegated_subgraphs, info.num_delegated_nodes, sum(portable.values()), portable)


def _refuse_missing_kernels(lowered) -> None:
    """An operator left outside XNNPACK that ExecuTorch's runtime has no kernel for lowers without complaint
    and fails only when the program loads ("Failed to load method forward, error 0x14", the operator named
    nowhere): name it here, before anything is written. The kernels are the runtime's registry (portable,
    optimized and quantized kernels: what ExecuTorch's prebuilt runtimes register)."""
    from executorch.extension.pybindings.portable_lib import _get_operator_names

    registered = set(_get_operator_names())
    for plan in lowered.executorch_program.execution_plan:
        for op in plan.operators:
            name = f"{op.name}.{op.overload}" if op.overload else op.name
            if name not in registered:
                raise BackendError(f"ExecuTorch cannot run the operator {name}: its runtime has no kernel for it "
                                   "(and XNNPACK does not take it)")


def lower_to_pte(module: nn.Module, spec: ModelSpec, out: str | Path, *, precision: str = "fp32",
                 calibration: Iterable[tuple] = (), float_patterns: list[str] | None = None,
                 force: bool = False) -> LoweredModel:
    """Lower ``module`` (eval mode, the spec's inputs at batch 1) to an XNNPACK ``.pte`` in folder ``out``.

    ``calibration``: tuples of input tensors in the spec's order (INT8 only); ``float_patterns``: regular
    expressions over ONNX-style node names (the spec's ``int8_float_patterns``) whose modules stay float.

    Example::

        import edgeus
        from edgeus.backends.executorch.lower import lower_to_pte
        loaded = edgeus.load_model("uniusnet-small")
        lowered = lower_to_pte(loaded.module, loaded.spec, "et-fp32")
        print(lowered.delegation.describe())
    """
    if precision not in PRECISIONS:
        raise BackendError(f"ExecuTorch plans are {', '.join(PRECISIONS)}; not {precision!r}")
    out = Path(out)
    if out.exists() and not force:
        raise BackendError(f"{out} exists; pass --force to overwrite it")
    module = module.eval()
    args = _example_args(spec)
    keep = float_modules(module, float_patterns or []) if precision == "int8" else []
    if precision == "int8":
        module = _quantize(module, args, calibration, keep)
    elif precision == "fp16":
        module = _in_half(module)
    buffer, delegation = _lower(_export(module, args, precision))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        folder = Path(tmp) / "out"
        folder.mkdir()
        (folder / PTE).write_bytes(buffer)
        io = {"inputs": [{"name": t.name, "shape": list(t.concrete_shape(1)), "dtype": t.dtype} for t in spec.inputs],
              "outputs": [{"name": t.name, "shape": list(t.concrete_shape(1)), "dtype": t.dtype} for t in spec.outputs],
              "batch": 1}
        (folder / IO).write_text(json.dumps(io, indent=1) + "\n")
        (folder / DELEGATION).write_text(json.dumps({"precision": precision, "float_modules": keep,
                                                     **delegation.to_dict()}, indent=1) + "\n")
        if out.exists():
            import shutil

            shutil.rmtree(out)
        os.replace(folder, out)
    return LoweredModel(out / PTE, precision, keep, delegation, len(buffer))
