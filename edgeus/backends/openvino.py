"""OpenVINO runner (CPU plugin): threads, streams, performance hint and inference precision from the profile.

The inference precision is always set explicitly: the CPU plugin otherwise runs bf16 on CPUs with
AVX-512-BF16/AMX. The precision that really ran is read back from the compiled model and kept in
``actual_precision``.
"""

from __future__ import annotations

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
                 name: str | None = None) -> None:
        super().__init__(name or f"openvino:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self.threads, self.streams, self.hint = threads, streams, hint
        self.inference_precision = inference_precision
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.actual_precision: str | None = None
        self.device = "CPU"
        self._compiled = self._request = None

    def config(self) -> dict:
        config = {"PERFORMANCE_HINT": self.hint, "NUM_STREAMS": str(self.streams),
                  "INFERENCE_PRECISION_HINT": self.inference_precision}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        return config

    def _load(self) -> None:
        ov = import_openvino()
        if not self.model_path.is_file():
            raise BackendError(f"{self.model_path}: OpenVINO model not found")
        core = ov.Core()
        if self.cache_dir:
            core.set_property({"CACHE_DIR": str(self.cache_dir)})
        try:
            self._compiled = core.compile_model(core.read_model(str(self.model_path)), self.device, self.config())
        except Exception as exc:
            raise BackendError(f"{self.model_path}: OpenVINO cannot load the model: {str(exc).splitlines()[0][:300]}") from None
        precision = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        self.actual_precision = precision.to_string() if hasattr(precision, "to_string") else str(precision)
        self._request = self._compiled.create_infer_request()

    def _unload(self) -> None:
        self._request = self._compiled = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wanted = {m.name: np.ascontiguousarray(feeds[m.name]) for m in self.input_metadata()}
        results = self._request.infer(wanted)
        return {out.get_any_name(): np.array(results[out]) for out in self._compiled.outputs}

    def _meta(self, ports) -> list[TensorMeta]:
        metas = []
        for port in ports:
            shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
            metas.append(TensorMeta(port.get_any_name(), shape, _OV_TYPES.get(port.get_element_type().get_type_name(),
                                                                              port.get_element_type().get_type_name())))
        return metas

    def input_metadata(self) -> list[TensorMeta]:
        if self._compiled is None:
            raise BackendError(f"runner {self.name!r} is not loaded")
        return self._meta(self._compiled.inputs)

    def output_metadata(self) -> list[TensorMeta]:
        if self._compiled is None:
            raise BackendError(f"runner {self.name!r} is not loaded")
        return self._meta(self._compiled.outputs)
