"""TensorRT runner: a serialized engine, device buffers, and timings split into copy-in, compute, copy-out.

Buffers and events come from cuda-python (``cuda.bindings.runtime``, or the older ``cuda.cudart``) or, where
torch with CUDA is installed, from torch. Before the engine is deserialized, its sidecar (``<engine>.json``,
written at build time) is checked against this device, so an engine for another GPU or TensorRT version fails
with a message naming both instead of an opaque deserialization error.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError


def _cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            return None
    return cudart


class _CudaPython:
    """Device memory, a stream and events through cuda-python's runtime API."""

    def __init__(self, cudart) -> None:
        self.rt = cudart
        self.stream = self._check(cudart.cudaStreamCreate())
        self.events = [self._check(cudart.cudaEventCreate()) for _ in range(4)]
        self.buffers: list[int] = []

    def _check(self, result):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise BackendError(f"CUDA error {err}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._check(self.rt.cudaMalloc(nbytes)))
        self.buffers.append(ptr)
        return ptr

    def stream_handle(self) -> int:
        return int(self.stream)

    def to_device(self, ptr: int, array: np.ndarray) -> None:
        self._check(self.rt.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes,
                                            self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))

    def to_host(self, array: np.ndarray, ptr: int) -> None:
        self._check(self.rt.cudaMemcpyAsync(array.ctypes.data, ptr, array.nbytes,
                                            self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))

    def record(self, i: int) -> None:
        self._check(self.rt.cudaEventRecord(self.events[i], self.stream))

    def synchronize(self) -> None:
        self._check(self.rt.cudaStreamSynchronize(self.stream))

    def elapsed_ms(self, a: int, b: int) -> float:
        return float(self._check(self.rt.cudaEventElapsedTime(self.events[a], self.events[b])))

    def free(self) -> None:
        for ptr in self.buffers:
            self.rt.cudaFree(ptr)
        for event in self.events:
            self.rt.cudaEventDestroy(event)
        self.rt.cudaStreamDestroy(self.stream)
        self.buffers = []


class _Torch:
    """The same through torch (when cuda-python is absent but torch with CUDA is present)."""

    def __init__(self, torch) -> None:
        self.torch = torch
        self.stream = torch.cuda.Stream()
        self.events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        self.tensors: dict[int, object] = {}

    def alloc(self, nbytes: int) -> int:
        tensor = self.torch.empty(nbytes, dtype=self.torch.uint8, device="cuda")
        self.tensors[tensor.data_ptr()] = tensor
        return tensor.data_ptr()

    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def to_device(self, ptr: int, array: np.ndarray) -> None:
        host = self.torch.from_numpy(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
        with self.torch.cuda.stream(self.stream):
            self.tensors[ptr][: array.nbytes].copy_(host, non_blocking=False)

    def to_host(self, array: np.ndarray, ptr: int) -> None:
        with self.torch.cuda.stream(self.stream):
            data = self.tensors[ptr][: array.nbytes].cpu().numpy()
        array.view(np.uint8).reshape(-1)[:] = data

    def record(self, i: int) -> None:
        self.events[i].record(self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def elapsed_ms(self, a: int, b: int) -> float:
        return float(self.events[a].elapsed_time(self.events[b]))

    def free(self) -> None:
        self.tensors.clear()


def _device_memory():
    cudart = _cudart()
    if cudart is not None:
        return _CudaPython(cudart)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        return _Torch(torch)
    raise BackendError("the TensorRT runner needs cuda-python (pip install 'edgeus[tensorrt]') or torch with CUDA "
                       "for device buffers")


def check_engine_sidecar(engine_path: Path) -> dict:
    """The engine's build identity, checked against this device (error naming both when they differ)."""
    from edgeus.backends.tensorrt.device import this_device
    from edgeus.backends.tensorrt.engine_files import ENGINE_SIDECAR_SUFFIX, engine_problem

    sidecar = engine_path.with_name(engine_path.name + ENGINE_SIDECAR_SUFFIX)
    try:
        built_for = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError):
        raise BackendError(f"{engine_path}: its build record {sidecar.name} is missing or unreadable; "
                           "rebuild the engine with 'edgeus finalize --rebuild'") from None
    device = this_device()
    if device is None:
        raise BackendError(f"{engine_path}: no NVIDIA GPU visible here (CUDA reports none); a TensorRT engine "
                           f"runs only on {built_for.get('gpu', 'the GPU it was built for')}")
    problem = engine_problem(built_for, device)
    if problem:
        raise BackendError(f"{engine_path.name}: {problem}")
    return built_for


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, engine_path: str | Path, name: str | None = None) -> None:
        super().__init__(name or f"tensorrt:{Path(engine_path).name}")
        self.engine_path = Path(engine_path)
        self.last_timings_ms: dict[str, float] = {}
        self._engine = self._context = self._memory = None
        self._inputs: list[TensorMeta] = []
        self._outputs: list[TensorMeta] = []
        self._capacity: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)
        # one execution context, one stream and shared device buffers: one call at a time (thread-safe)
        self._lock = threading.Lock()

    def _load(self) -> None:
        from edgeus.backends.tensorrt.builder import import_tensorrt

        trt = import_tensorrt()
        if not self.engine_path.is_file():
            raise BackendError(f"{self.engine_path}: TensorRT engine not found")
        self.built_for = check_engine_sidecar(self.engine_path)
        runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise BackendError(f"{self.engine_path}: TensorRT cannot deserialize the engine (corrupt, truncated or "
                               "built by another TensorRT); rebuild it with 'edgeus finalize --rebuild'")
        self._trt, self._engine = trt, engine
        self._context = engine.create_execution_context()
        self._memory = _device_memory()
        self._inputs, self._outputs = [], []  # a second activate must not list the tensors twice
        for i in range(engine.num_io_tensors):
            tensor = engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(tensor))).name
            meta = TensorMeta(tensor, tuple(d if d >= 0 else None for d in engine.get_tensor_shape(tensor)), dtype)
            (self._inputs if engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT else self._outputs).append(meta)

    def _unload(self) -> None:
        if self._memory is not None:
            self._memory.free()
        self._context = self._engine = self._memory = None
        self._capacity = {}

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._capacity.get(name, (0, 0))
        if size < nbytes:  # grow on demand (a larger batch); buffers of smaller batches are reused
            ptr = self._memory.alloc(nbytes)
            self._capacity[name] = (ptr, nbytes)
            self._context.set_tensor_address(name, ptr)
        return ptr

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            return self._infer_locked(feeds)

    def _infer_locked(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        memory = self._memory
        arrays = {}
        for meta in self._inputs:
            array = np.ascontiguousarray(feeds[meta.name], dtype=meta.dtype)
            self._context.set_input_shape(meta.name, array.shape)
            arrays[meta.name] = array
        outputs = {}
        for meta in self._outputs:
            shape = tuple(self._context.get_tensor_shape(meta.name))
            outputs[meta.name] = np.empty(shape, dtype=meta.dtype)
            self._buffer(meta.name, outputs[meta.name].nbytes)
        memory.record(0)
        for name, array in arrays.items():
            memory.to_device(self._buffer(name, array.nbytes), array)
        memory.record(1)
        if not self._context.execute_async_v3(memory.stream_handle()):
            raise BackendError(f"{self.engine_path.name}: TensorRT execution failed")
        memory.record(2)
        for name, array in outputs.items():
            memory.to_host(array, self._capacity[name][0])
        memory.record(3)
        memory.synchronize()
        self.last_timings_ms = {"host_to_device": memory.elapsed_ms(0, 1), "compute": memory.elapsed_ms(1, 2),
                                "device_to_host": memory.elapsed_ms(2, 3)}
        return outputs


