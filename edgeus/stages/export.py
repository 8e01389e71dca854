"""Stage 1, export: torch -> ONNX with a dynamic batch axis, checked, simplified and parity-verified.

Parity runs at batch sizes other than the one traced, because a model that turns its batch size into a
Python number during tracing exports without complaint and is wrong (or crashes) at any other batch.
Nothing reaches the output path unless every check passed.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.torch import TorchRunner
from edgeus.errors import ExportError, OutputExistsError, first_line
from edgeus.evidence.parity import OutputParity, compare_outputs
from edgeus.models import LoadedModel
from edgeus.models.rewrites import apply_rewrites
from edgeus.util.native_stderr import native_stderr_to_log

DEFAULT_OPSET = 17  # LayerNormalization is a single op from 17 on; OpenVINO, ORT and TensorRT 8.6+ take it


@dataclass
class ExportReport:
    path: str
    model: str
    opset: int
    trace_batch: int
    check_batches: list[int]
    simplified: bool
    nodes_before: int
    nodes_after: int
    export_time_s: float
    size_bytes: int
    parity: list[dict] = field(default_factory=list)
    # deployment rewrites applied before tracing ({"name", "blocks"}); parity is against the unrewritten model
    rewrites: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _torch_export(loaded: LoadedModel, module, path: Path, trace_batch: int, opset: int) -> None:
    import torch

    spec = loaded.spec
    example = spec.example_feeds(trace_batch, seed=1)
    args = tuple(torch.from_numpy(example[n]) for n in spec.input_names)
    dynamic_axes = {t.name: t.dynamic_axes for t in [*spec.inputs, *spec.outputs] if t.dynamic_axes}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about every traced shape and about its own deprecation; the
        # parity check below is what tells whether tracing went right.
        warnings.simplefilter("ignore")
        try:
            # on an unsupported operator the exporter prints the whole TorchScript graph to standard output:
            # into the log; the error below names the operator in one line
            with native_stderr_to_log("torch", fd=1):
                torch.onnx.export(
                    module, args, str(path), input_names=spec.input_names, output_names=spec.output_names,
                    dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True, dynamo=False,
                )
        except Exception as exc:
            first = first_line(exc, 300)
            raise ExportError(f"torch.onnx.export failed for {loaded.name}: {exc.__class__.__name__}: {first}") from None


def _check(path: Path) -> int:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise ExportError(f"exported graph fails onnx.checker: {first_line(exc, 300)}") from None
    return len(onnx.load(str(path), load_external_data=False).graph.node)


def _simplify(src: Path, dst: Path) -> int:
    import onnx
    import onnxslim

    model = onnxslim.slim(str(src))
    onnx.save(model, str(dst))
    return len(model.graph.node)


def check_parity(loaded: LoadedModel, onnx_path: Path, batches: list[int], threads: int | None = None) -> list[OutputParity]:
    """Run torch and ONNX Runtime on the same inputs at each batch size; every output compared."""
    spec = loaded.spec
    results: list[OutputParity] = []
    with TorchRunner(loaded.module, spec, threads=threads) as ref, OnnxRuntimeRunner(onnx_path, threads=threads) as cand:
        for batch in batches:
            feeds = spec.example_feeds(batch, seed=100 + batch)
            expected = ref.infer(feeds)
            try:
                got = cand.infer(feeds)
            except Exception as exc:  # ORT's own error types: a shape frozen at the traced batch
                first = first_line(exc, 200)
                raise ExportError(
                    f"exported ONNX fails at batch {batch} (the batch size was probably frozen during tracing): {first}"
                ) from None
            results += compare_outputs(expected, got, spec, batch)
    return results


def export_onnx(loaded: LoadedModel, out: str | Path, *, opset: int = DEFAULT_OPSET, trace_batch: int = 2,
                check_batches: tuple[int, ...] = (1, 3), simplify: bool = True, force: bool = False,
                threads: int | None = None, rewrites: list[str] | None = None) -> ExportReport:
    """Export a loaded model to ONNX at ``out`` (dynamic batch), simplified, and checked against torch at the
    batch sizes of ``check_batches`` (the spec's tolerances); a mismatch writes nothing and raises ExportError.
    ``rewrites`` (default: the spec's ``deploy_rewrites``; ``[]`` for none) are applied to a copy of the module
    before tracing; parity is always against the unrewritten module.

    Example::

        import edgeus
        report = edgeus.export(edgeus.load_model("uniusnet-small"), "model.onnx")
        print(report.path, report.nodes_after, [p["max_abs_diff"] for p in report.parity])
    """
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # Work in a temporary folder beside the output so the final step is an atomic rename and a failed
    # export leaves nothing behind.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        module, applied = apply_rewrites(loaded.module, loaded.spec.deploy_rewrites if rewrites is None else rewrites)
        _torch_export(loaded, module, raw, trace_batch, opset)
        nodes_before = _check(raw)
        final = raw
        nodes_after = nodes_before
        if simplify:
            final = Path(tmp) / "slim.onnx"
            nodes_after = _simplify(raw, final)
            _check(final)
        batches = sorted({trace_batch, *check_batches})
        parity = check_parity(loaded, final, batches, threads=threads)
        bad = [p for p in parity if not p.ok]
        if bad:
            raise ExportError(
                f"export of {loaded.name} disagrees with torch: {bad[0].describe()}"
                + (f" (and {len(bad) - 1} more output/batch pair(s))" if len(bad) > 1 else "")
                + "; no ONNX was written"
            )
        os.replace(final, out)
    return ExportReport(
        path=str(out), model=loaded.name, opset=opset, trace_batch=trace_batch, check_batches=batches,
        simplified=simplify, nodes_before=nodes_before, nodes_after=nodes_after,
        export_time_s=round(time.perf_counter() - start, 3), size_bytes=out.stat().st_size,
        parity=[p.to_dict() for p in parity], rewrites=[a.to_dict() for a in applied],
    )
