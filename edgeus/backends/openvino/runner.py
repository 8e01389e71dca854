"""OpenVINO runner (CPU plugin): threads, streams, performance hint and inference precision from the profile.

The inference precision is always set explicitly: the CPU plugin otherwise runs bf16 on CPUs with
AVX-512-BF16/AMX. The precision that really ran is read back from the compiled model and kept in
``actual_precision``.

Thread-safe: an OpenVINO infer request serves one call at a time (a second caller gets "Infer Request is
busy", or worse, outputs another call overwrites), so each call takes a request from a pool, creating one
when all are busy, and the outputs are copied out before the request goes back. Inputs are copied into the
tensors the request owns (``share_inputs=False``).

No deadlock on first use, by construction. OpenVINO's Python binding (seen with 2026.4.1) initialises
pybind11's numpy API lazily, the first time ``Tensor.data`` of a request's tensor is read, inside a C++
function-local static; pybind11 releases the GIL inside that initialiser. A second thread reaching the same
static meanwhile waits on the C++ init guard while holding the GIL, and the first waits for the GIL: both
stop for good (found with native stacks of hung ``edgeus run`` processes: one thread in
``gil_safe_call_once_and_store<npy_api>`` waiting for the GIL, one in ``__cxa_guard_acquire``; 11 of 30
fresh processes with four threads making their first ``infer`` at once hung, 0 of 30 once primed). So the
binding is primed once per process on the importing thread (``import_openvino``), and every infer request is
run once on the thread that creates it before any other thread can take it (``_warm``): whatever other lazy
state the call path has is built before calls can overlap.

Static shapes: a model exported with a dynamic batch runs 20-30 % slower on the CPU plugin than the same
model reshaped to a fixed batch (measured on the small uniusnet INT8, 2 threads: 13.8 vs 11.0 ms; OpenVINO's
``benchmark_app`` reshapes too, which was most of edgeus's "runner overhead"). So the runner compiles one
static-shape copy per batch size it meets (batch 1 at load, others on first use, up to
``MAX_STATIC_BATCHES``; beyond that one dynamic-shape compile serves every other size).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.backends.openvino.isa_cap import note_first_load
from edgeus.errors import BackendError


_primed = threading.Lock()
_is_primed = False


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise BackendError("OpenVINO is not installed: pip install 'edgeus[openvino]'") from None
    _prime_bindings(openvino)
    return openvino


def _prime_bindings(ov) -> None:
    """Build the binding's lazy numpy state on this one thread, before any thread can race to build it
    (the deadlock in this module's docstring). Idempotent; a plain lock, taken once per process."""
    global _is_primed
    if _is_primed:
        return
    with _primed:
        if not _is_primed:
            ov.Tensor(np.zeros((1,), dtype=np.float32)).data  # the numpy API, through a tensor's constructor
            ov.Tensor(ov.Type.f32, ov.Shape([1])).data  # the .data getter of a tensor OpenVINO owns
            _is_primed = True


MAX_STATIC_BATCHES = 4
DYNAMIC = 0  # the key of the dynamic-shape compile in OpenVINORunner._compiled


@dataclass
class _Compiled:
    """One compiled model and its pool of idle infer requests."""
    model: object
    requests: queue.SimpleQueue


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
        self._source = None  # the ov.Model as read (dynamic batch)
        self._core = None
        self._compiled: dict[int, _Compiled] = {}  # batch size (DYNAMIC: any) -> compiled model
        self._compile_lock = threading.Lock()
        self._inputs: list[TensorMeta] = []

    def config(self) -> dict:
        config = {"PERFORMANCE_HINT": self.hint, "NUM_STREAMS": str(self.streams),
                  "INFERENCE_PRECISION_HINT": self.inference_precision}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        return config

    def _load(self) -> None:
        ov = import_openvino()
        note_first_load()
        if self._model is None and not self.model_path.is_file():
            raise BackendError(f"{self.model_path}: OpenVINO model not found")
        self._core = ov.Core()
        if self.cache_dir:
            self._core.set_property({"CACHE_DIR": str(self.cache_dir)})
        try:
            self._source = self._model if self._model is not None else self._core.read_model(str(self.model_path))
        except Exception as exc:
            raise BackendError(f"{self.model_path}: OpenVINO cannot load the model: {_check_message(exc)}") from None
        self._inputs = self._meta(self._source.inputs)
        self._outputs = self._meta(self._source.outputs)
        first = self._compiled_for(1 if self._batch_is_only_dynamic_dim() else DYNAMIC)
        precision = first.model.get_property("INFERENCE_PRECISION_HINT")
        self.actual_precision = precision.to_string() if hasattr(precision, "to_string") else str(precision)
        self._output_names = [(i, out.get_any_name()) for i, out in enumerate(first.model.outputs)]

    def _batch_is_only_dynamic_dim(self) -> bool:
        return all(len(m.shape) >= 1 and all(d is not None for d in m.shape[1:]) for m in self._inputs)

    def _compiled_for(self, batch: int) -> _Compiled:
        """The compiled model for this batch size, compiled on first use (under a lock: threads share it)."""
        entry = self._compiled.get(batch)
        if entry is not None:
            return entry
        with self._compile_lock:
            entry = self._compiled.get(batch)
            if entry is None:
                model = self._source
                if batch != DYNAMIC:
                    model = model.clone()
                    model.reshape({port.get_any_name(): [batch, *meta.shape[1:]]
                                   for port, meta in zip(model.inputs, self._inputs, strict=True)})
                try:
                    compiled = self._core.compile_model(model, self.device, self.config())
                except Exception as exc:
                    raise BackendError(f"{self.model_path}: OpenVINO cannot compile the model: "
                                       f"{_check_message(exc)}") from None
                entry = _Compiled(compiled, queue.SimpleQueue())
                for _ in range(max(1, int(self.streams or 1))):  # one request per stream, each run once here
                    entry.requests.put(self._warm(compiled, batch))
                self._compiled[batch] = entry
        return entry

    def _warm(self, compiled, batch: int):
        """A new request of ``compiled``, run once on this thread with zeros of its input shapes: the call
        path's lazy state (the binding's, the plugin's per-stream graph) is built here, not by two callers at
        once."""
        request = compiled.create_infer_request()
        feeds = {}
        for port in compiled.inputs:
            dims = [d.get_length() if d.is_static else 1 for d in port.get_partial_shape()]
            if dims and batch != DYNAMIC:
                dims[0] = batch
            feeds[port.get_any_name()] = np.zeros(dims, dtype=port.get_element_type().to_dtype())
        try:
            request.infer(feeds)
        except RuntimeError as exc:  # a dynamic model whose other dimensions 1 does not fit: its first call builds it
            if batch != DYNAMIC:
                raise BackendError(f"{self.model_path}: OpenVINO cannot run the model on zeros of its input shapes: "
                                   f"{_check_message(exc)}") from None
        return request

    def _entry_for(self, feeds: dict[str, np.ndarray]) -> _Compiled:
        if DYNAMIC in self._compiled and 1 not in self._compiled:  # a model with other dynamic dimensions
            return self._compiled[DYNAMIC]
        batch = int(feeds[self._inputs[0].name].shape[0]) if self._inputs else 1
        if batch in self._compiled or len(self._compiled) < MAX_STATIC_BATCHES:
            return self._compiled_for(batch)
        return self._compiled_for(DYNAMIC)

    def _batch_of(self, entry: _Compiled) -> int:
        return next(batch for batch, e in self._compiled.items() if e is entry)

    def _unload(self) -> None:
        self._compiled = {}
        self._source = self._core = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wanted = {m.name: np.ascontiguousarray(feeds[m.name]) for m in self._inputs}
        try:
            entry = self._entry_for(wanted)
        except (ValueError, IndexError) as exc:
            raise BackendError(f"{self.model_path.name}: OpenVINO rejected the inputs ({_shapes(wanted)}): {exc}") from None
        try:
            request = entry.requests.get_nowait()
        except queue.Empty:  # every request is busy in another thread: this caller gets its own, run once first
            request = self._warm(entry.model, self._batch_of(entry))
        try:
            # inputs are copied into the request's own tensors; outputs are copies too (share_outputs=False), as
            # the request is reused
            results = request.infer(wanted)
            return {name: results[index] for index, name in self._output_names}
        except RuntimeError as exc:  # OpenVINO's check failures (wrong shape or type) arrive as RuntimeError
            raise BackendError(f"{self.model_path.name}: OpenVINO rejected the inputs ({_shapes(wanted)}): "
                               f"{_check_message(exc)}") from None
        finally:
            entry.requests.put(request)

    def _meta(self, ports) -> list[TensorMeta]:
        metas = []
        for port in ports:
            shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
            metas.append(TensorMeta(port.get_any_name(), shape, _OV_TYPES.get(port.get_element_type().get_type_name(),
                                                                              port.get_element_type().get_type_name())))
        return metas


def _shapes(feeds: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {'x'.join(map(str, v.shape))} {v.dtype}" for k, v in feeds.items())


def _check_message(exc: BaseException) -> str:
    """OpenVINO's C++ check text without its source paths and 'Check ... failed at' boilerplate."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from", "Check '", "src/", "/"))]
    return (useful[0] if useful else lines[0] if lines else exc.__class__.__name__)[:240]
