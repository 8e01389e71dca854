"""ONNX Runtime runner (CPU execution provider), for fp32 and QDQ INT8 ONNX models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError, first_line

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
              "tensor(int32)": "int32"}


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise BackendError("ONNX Runtime is not installed: pip install 'edgeus[onnxruntime]'") from None
    return onnxruntime


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, model_path: str | Path, threads: int | None = None,
                 graph_optimization: str = "all", name: str | None = None, session: dict | None = None) -> None:
        """``session``: the target's session settings (backends/onnxruntime/target.py): ``disabled_optimizers``
        and ``config`` entries; None or {} runs this machine's defaults."""
        super().__init__(name or f"onnxruntime:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self.threads = threads
        self.graph_optimization = graph_optimization
        self.session = session or {}
        self._session = None

    def session_arguments(self):
        """(SessionOptions, keyword arguments) this runner opens its InferenceSession with: threads, the
        optimisation level and the target's session (config entries, disabled optimizers)."""
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.graph_optimization]
        options.log_severity_level = 3  # errors only; ORT's warnings about unused initialisers are noise
        for key, value in self.session.get("config", {}).items():
            options.add_session_config_entry(key, str(value))
        return options, {"providers": ["CPUExecutionProvider"],
                         "disabled_optimizers": list(self.session.get("disabled_optimizers", []))}

    def _load(self) -> None:
        ort = import_onnxruntime()
        if not self.model_path.is_file():
            raise BackendError(f"{self.model_path}: ONNX model not found")
        options, kwargs = self.session_arguments()
        try:
            self._session = ort.InferenceSession(str(self.model_path), options, **kwargs)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types for corrupt models
            first = first_line(exc, 300)
            raise BackendError(f"{self.model_path}: ONNX Runtime cannot load the model: {first}") from None
        self._inputs = self._meta(self._session.get_inputs())
        self._outputs = self._meta(self._session.get_outputs())
        self._output_names = [o.name for o in self._session.get_outputs()]

    def _unload(self) -> None:
        self._session = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # InferenceSession.run is thread-safe (ONNX Runtime's documented contract): no lock needed
        wanted = {m.name: feeds[m.name] for m in self._inputs}
        try:
            outputs = self._session.run(self._output_names, wanted)
        except Exception as exc:  # ORT's own InvalidArgument/Fail types: wrong shapes or dtypes for this model
            if not type(exc).__module__.startswith("onnxruntime"):
                raise
            raise BackendError(f"{self.model_path.name}: ONNX Runtime rejected the inputs "
                               f"({_shapes(wanted)}): {first_line(exc)}") from None
        return dict(zip(self._output_names, outputs, strict=True))

    def _meta(self, items) -> list[TensorMeta]:
        return [TensorMeta(i.name, tuple(i.shape), _ORT_TYPES.get(i.type, i.type)) for i in items]


def _shapes(feeds: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {'x'.join(map(str, a.shape))} {a.dtype}" for name, a in feeds.items())
