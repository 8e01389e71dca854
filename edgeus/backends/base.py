"""The Runner interface every backend implements (torch, ONNX Runtime, OpenVINO, TensorRT).

A runner is a context manager: ``with runner: outputs = runner.infer(feeds)``. Entering loads the model
(its duration is ``load_time_s``), leaving frees it. ``infer`` takes and returns numpy arrays keyed by the
model's input/output names, so comparison, validation and profiling code never sees a backend type.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgeus.errors import BackendError


@dataclass(frozen=True)
class TensorMeta:
    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


class Runner(ABC):
    backend: str = "abstract"

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_active = False
        self.load_time_s: float | None = None
        self.last_inference_time_s: float | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def activate(self) -> None:
        if self.is_active:
            return
        start = time.perf_counter()
        self._load()
        self.load_time_s = time.perf_counter() - start
        self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self._unload()
            self.is_active = False

    # --- inference -------------------------------------------------------------------------------
    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.is_active:
            raise BackendError(f"runner {self.name!r} is not loaded; use it inside a 'with' block")
        missing = [m.name for m in self.input_metadata() if m.name not in feeds]
        if missing:
            raise BackendError(f"runner {self.name!r}: missing input(s) {', '.join(missing)}")
        start = time.perf_counter()
        outputs = self._infer(feeds)
        self.last_inference_time_s = time.perf_counter() - start
        return outputs

    # --- what a backend provides -----------------------------------------------------------------
    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _unload(self) -> None: ...

    @abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    # Runners that learn their tensors at load time fill these two lists in ``_load``; the metadata methods
    # below then serve every backend (a runner with another source of truth overrides them).
    _inputs: list[TensorMeta] = []
    _outputs: list[TensorMeta] = []

    def input_metadata(self) -> list[TensorMeta]:
        self._require_loaded()
        return self._inputs

    def output_metadata(self) -> list[TensorMeta]:
        self._require_loaded()
        return self._outputs

    def _require_loaded(self) -> None:
        if not self.is_active:
            raise BackendError(f"runner {self.name!r} is not loaded")


def throughput_streams(threads: int | None) -> int:
    """Concurrent inferences for a throughput engine: two when there are two threads or more. Measured on the
    small uniusnet INT8, 2 cores: 2 streams x 1 thread give 88-92 img/s with two callers against 76 img/s for
    1 stream x 2 threads, and leave the gaps the pipeline's decoding and postprocessing fill."""
    return 2 if (threads or 1) >= 2 else 1


@contextlib.contextmanager
def active(*runners: Runner) -> Iterator[None]:
    """Load the runners that are not loaded yet, and unload only those on exit (callers keep theirs)."""
    started = [r for r in runners if not r.is_active]
    try:
        for r in started:
            r.activate()
        yield
    finally:
        for r in reversed(started):
            r.deactivate()
