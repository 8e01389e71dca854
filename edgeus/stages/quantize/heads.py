"""Find the layers that produce a model's outputs, to keep them in floating point for ``mixed`` precision."""

from __future__ import annotations

from pathlib import Path

from edgeus.contracts.spec import ModelSpec

WEIGHTED = ("Conv", "MatMul", "Gemm")


def output_head_nodes(onnx_path: Path, spec: ModelSpec) -> list[str]:
    """For each output, the last weighted layer on the path back from it (the head's projection)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    producers = {o: n for n in graph.node for o in n.output}
    heads = []
    for name in spec.output_names:
        frontier, seen = [name], set()
        while frontier:
            tensor = frontier.pop(0)
            node = producers.get(tensor)
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type in WEIGHTED:
                heads.append(node.name)
                break
            frontier += list(node.input)
    return sorted(set(heads))
