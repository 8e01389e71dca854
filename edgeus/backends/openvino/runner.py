"""OpenVINO runner (CPU plugin): threads, streams, performance hint and inference precision from the profile.

The inference precision is always set explicitly: the CPU plugin otherwise runs bf16 on CPUs with
AVX-512-BF16/AMX. The precision that really ran is read back from the compiled model and kept in
``actual_precision``.

Thread-safe: an OpenVINO infer request serves one call at a time (a second caller gets "Infer Request is
busy", or worse, outputs another call overwrites), so each call takes a request from a pool, creating one
when all are busy, and the outputs are copied out before the request goes back.
"""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise BackendError("OpenVINO is not installed: pip install 'edgeus[openvino]'") from None
    return openvino


_OV_TYPES = {"f32": "float32", "f16": "float16", "i64": "int64", "i32": "int32"}


class OpenVINORunner(Runner):
    backend = "openvino"

    def __init__(self, model_path: str | Path, threads: int | None = None, streams: int = 1,
                 hint: str = "LATENCY", inference_precision: str = "f32", cache_dir: str | Path | None = None,
                 name: str | None = None, model=None) -> None:
        super().__init__(name or f"openvino:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self._model = model  # an ov.Model in memory (the float-scope search's variants); model_path names it
        self.threads, self.streams, self.hint = threads, streams, hint
        self.inference_precision = inference_precision
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.actual_precision: str | None = None
        self.device = "CPU"
        self._compiled = None
        self._requests: queue.SimpleQueue | None = None
        self._inputs: list[TensorMeta] = []

    def config(self) -> dict:
        config = {"PERFORMANCE_HINT": self.hint, "NUM_STREAMS": str(self.streams),
                  "INFERENCE_PRECISION_HINT": self.inference_precision}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        return config

    def _load(self) -> None:
        ov = import_openvino()
        if self._model is None and not self.model_path.is_file():
            raise BackendError(f"{self.model_path}: OpenVINO model not found")
        core = ov.Core()
        if self.cache_dir:
            core.set_property({"CACHE_DIR": str(self.cache_dir)})
        try:
            model = self._model if self._model is not None else core.read_model(str(self.model_path))
            self._compiled = core.compile_model(model, self.device, self.config())
        except Exception as exc:
            raise BackendError(f"{self.model_path}: OpenVINO cannot load the model: {_check_message(exc)}") from None
        precision = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        self.actual_precision = precision.to_string() if hasattr(precision, "to_string") else str(precision)
        self._requests = queue.SimpleQueue()
        self._requests.put(self._compiled.create_infer_request())
        self._inputs = self._meta(self._compiled.inputs)
        self._outputs = self._meta(self._compiled.outputs)
        self._output_names = [(out, out.get_any_name()) for out in self._compiled.outputs]

    def _unload(self) -> None:
        self._requests = self._compiled = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wanted = {m.name: np.ascontiguousarray(feeds[m.name]) for m in self._inputs}
        try:
            request = self._requests.get_nowait()
        except queue.Empty:  # every request is busy in another thread: this caller gets its own
            request = self._compiled.create_infer_request()
        try:
            results = request.infer(wanted)
            return {name: np.array(results[port]) for port, name in self._output_names}  # copies: the request is reused
        except RuntimeError as exc:  # OpenVINO's check failures (wrong shape or type) arrive as RuntimeError
            shapes = ", ".join(f"{k} {'x'.join(map(str, v.shape))} {v.dtype}" for k, v in wanted.items())
            raise BackendError(f"{self.model_path.name}: OpenVINO rejected the inputs ({shapes}): "
                               f"{_check_message(exc)}") from None
        finally:
            self._requests.put(request)

    def _meta(self, ports) -> list[TensorMeta]:
        metas = []
        for port in ports:
            shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
            metas.append(TensorMeta(port.get_any_name(), shape, _OV_TYPES.get(port.get_element_type().get_type_name(),
                                                                              port.get_element_type().get_type_name())))
        return metas




def _check_message(exc: BaseException) -> str:
    """OpenVINO's C++ check text without its source paths and 'Check ... failed at' boilerplate."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from", "Check '", "src/", "/"))]
    return (useful[0] if useful else lines[0] if lines else exc.__class__.__name__)[:240]
