"""Return parts of an NNCF-quantized OpenVINO model to float: the moves of the float-scope search.

NNCF's accuracy control already knows how to do this right: which quantizers must go together so that a
set of operations really runs in float (``Ranker.find_groups_of_quantizers_to_rank``), and how to remove them
while restoring the original weights and the biases that bias correction changed
(``revert_operations_to_floating_point_precision``). Those are NNCF internals (no public API offers them), so
they are used here only, behind one small class; ``nncf>=3.4,<4`` pins the version they were written against.

What NNCF does not offer is the unit of search and the verdict: NNCF ranks quantizer groups against one
scalar metric, while edgeus gates every task (stages/scope_search.py). Hundreds of quantizer groups would cost
hundreds of evaluations, so groups are merged into **blocks** by the module path of their operations (the
names torch's exporter gives, ``/encoder/layers.0/blocks.1/attn/qkv/MatMul``), at the deepest path level
that still gives at most ``max_blocks`` blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from edgeus.backends.openvino.isa_cap import note_first_load
from edgeus.backends.openvino.runner import import_openvino
from edgeus.errors import QuantizeError


@dataclass
class QuantizedBlock:
    name: str                                   # the module path its operations share
    operations: list[str] = field(default_factory=list)  # OpenVINO op names that run in float once reverted
    _groups: list = field(default_factory=list, repr=False)  # NNCF GroupToRank objects


def _path(op_name: str) -> list[str]:
    """Module path components of an exported op name, without the op itself ("/a/b/Conv" -> ["a", "b"])."""
    parts = [p for p in op_name.split("/") if p]
    return parts[:-1] if len(parts) > 1 else parts


def merge_into_blocks(op_names_per_group: list[list[str]], max_blocks: int) -> list[tuple[str, list[int]]]:
    """Group indices merged by module path: the deepest level with at most ``max_blocks`` blocks (level 1 at
    least). Returns (block name, group indices) in first-seen order (the graph's order, reversed by NNCF)."""
    depth_limit = max((len(_path(ops[0])) for ops in op_names_per_group if ops), default=1)
    chosen = None
    for depth in range(1, depth_limit + 1):
        keys = OrderedDict()
        for index, ops in enumerate(op_names_per_group):
            key = "/" + "/".join(_path(ops[0])[:depth]) if ops else "(unnamed)"
            keys.setdefault(key, []).append(index)
        if chosen is None or len(keys) <= max_blocks:
            chosen = keys
        if len(keys) > max_blocks:
            break
    return list((chosen or {}).items())


class RevertibleModel:
    """A full-INT8 NNCF model (OpenVINO IR) with its float original, able to hand out copies with any set of
    blocks returned to float."""

    def __init__(self, quantized_xml: Path, fp32_model_path: Path, max_blocks: int = 32) -> None:
        ov = import_openvino()
        try:
            import nncf
            from nncf.quantization.algorithms.accuracy_control.openvino_backend import OVAccuracyControlAlgoBackend
            from nncf.quantization.algorithms.accuracy_control.ranker import Ranker
        except ImportError as exc:
            raise QuantizeError(f"the float-scope search needs NNCF's accuracy control ({exc}); "
                                "pip install 'edgeus[quantize]'") from None
        note_first_load()
        core = ov.Core()
        self.model = core.read_model(str(quantized_xml))
        initial = core.read_model(str(fp32_model_path)) if fp32_model_path.suffix == ".xml" \
            else ov.convert_model(str(fp32_model_path))
        self._backend = OVAccuracyControlAlgoBackend()
        self.graph = nncf.build_graph(self.model)
        self._keep_originals(nncf.build_graph(initial), initial)
        groups = Ranker(1, None, self._backend, None).find_groups_of_quantizers_to_rank(self.graph)
        groups = [g for g in groups if g.operations]
        merged = merge_into_blocks([[op.node_name for op in g.operations] for g in groups], max_blocks)
        self.blocks = [QuantizedBlock(name, sorted({op.node_name for i in idx for op in groups[i].operations}),
                                      [groups[i] for i in idx]) for name, idx in merged]

    def _keep_originals(self, initial_graph, initial) -> None:
        """The float model's weights and biases on the quantized graph's nodes, where NNCF reverting reads
        them: a reverted block gets its bias from before bias correction. (NNCF's accuracy control does this for
        the model it quantized itself; here a node that SmoothQuant rewired has no constant weight port, and
        keeps the smoothed float weight, which with its smoothing multiply is the same function.)"""
        backend = self._backend
        for node in initial_graph.get_all_nodes():
            try:
                target = self.graph.get_node_by_name(node.node_name)
            except Exception:  # the node is not in the quantized model (folded or renamed)
                continue
            if backend.is_node_with_bias(node, initial_graph):
                target.attributes["original_bias"] = backend.get_bias_value(node, initial_graph, initial)
            if backend.is_node_with_weight(node) and target.layer_attributes is not None:
                for port in backend.get_weight_tensor_port_ids(target):
                    target.attributes[f"original_weight.{port}"] = backend.get_weight_value(node, initial, port)

    def block(self, name: str) -> QuantizedBlock:
        return next(b for b in self.blocks if b.name == name)

    def with_float(self, names: list[str] | set[str]):
        """A copy of the quantized model with these blocks in float (the original model is untouched)."""
        if not names:
            return self.model.clone()
        from nncf.common.quantization.quantizer_removal import revert_operations_to_floating_point_precision
        from nncf.quantization.advanced_parameters import RestoreMode

        operations, quantizers, seen = [], [], set()
        for block in self.blocks:
            if block.name not in names:
                continue
            for group in block._groups:
                operations += group.operations
                for q in group.quantizers:
                    if q.node_name not in seen:  # one quantizer can belong to groups of two blocks
                        seen.add(q.node_name)
                        quantizers.append(q)
        return revert_operations_to_floating_point_precision(
            operations, quantizers, self.model, self.graph, RestoreMode.ACTIVATIONS_AND_WEIGHTS,
            self._backend.get_op_with_weights_metatypes(), self._backend.is_node_with_weight,
            self._backend.get_weight_tensor_port_ids)


class FloatScopeModels:
    """The OpenVINO side of the float-scope search: the full-INT8 model of ``base_dir``, runners of it with
    chosen blocks back in float, and the saved result (its quantize.json says which blocks)."""

    def __init__(self, base_dir: Path, fp32_model_path: Path, islands: str, threads: int, max_blocks: int = 32) -> None:
        self.base_dir, self.islands, self.threads = base_dir, islands, threads
        self.revertible = RevertibleModel(base_dir / "model.xml", fp32_model_path, max_blocks)

    @property
    def blocks(self) -> dict[str, list[str]]:
        """Each block's name -> the operations it returns to float, in graph order."""
        return {b.name: b.operations for b in self.revertible.blocks}

    def runner(self, float_blocks: list[str]):
        """An OpenVINO runner of the INT8 model with ``float_blocks`` in float (islands in ``islands``)."""
        from edgeus.backends.openvino.runner import OpenVINORunner

        return OpenVINORunner(self.base_dir / "model.xml", threads=self.threads, inference_precision=self.islands,
                              model=self.revertible.with_float(float_blocks), name="int8-search")

    def save(self, float_blocks: list[str], float_operations: list[str], out: Path) -> None:
        """``out/model.xml`` with these blocks in float, and its quantize.json (the base's, with the scope)."""
        import json

        out.mkdir(parents=True)
        ov = import_openvino()
        ov.save_model(self.revertible.with_float(float_blocks), str(out / "model.xml"), compress_to_fp16=False)
        record = json.loads((self.base_dir / "quantize.json").read_text())
        record["method"] += (f" + automatic float scope ({len(float_blocks)} of {len(self.revertible.blocks)} "
                             "blocks in float)")
        record["ignored_scope"] = {"names": float_operations, "patterns": [], "types": [], "blocks": float_blocks}
        (out / "quantize.json").write_text(json.dumps(record, indent=1) + "\n")
