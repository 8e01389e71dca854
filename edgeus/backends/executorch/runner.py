"""Runs an ExecuTorch ``.pte`` on this CPU's XNNPACK kernels, with one of two Python runtimes:

* ExecuTorch's own (``executorch.runtime``, the version the build lowers with): it links torch's libraries,
  so it runs only beside torch. The build uses it; threads are set on its shared threadpool.
* ``executorch-numpy-runtime`` (PyPI; a third party's build of ExecuTorch 1.3.1's runtime, XNNPACK and the
  portable/optimized/quantized kernels, numpy in and out, Python >= 3.12): torch-free, so the vendor runtime and
  the emulated aarch64 check use it where ExecuTorch's is not importable. Checked before relying on it: it runs
  the .pte files ExecuTorch 1.5.1 writes here bit-for-bit like 1.5.1's runtime (the default model's INT8
  conformance vectors, max |diff| 0); a .pte using an op its 1.3.1 kernels lack fails to load, in one line.
  Its thread count is the runtime's own (no setting).

The tensor names come from ``model.io.json`` beside the ``.pte`` (a ``.pte`` has none)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError
from edgeus.util.native_stderr import native_stderr_to_log

INSTALL_HINT = ("no ExecuTorch runtime is installed: pip install 'edgeus[executorch]' (beside torch), or the "
                "torch-free 'executorch-numpy-runtime' on Python >= 3.12; a phone runs the .pte with ExecuTorch's "
                "C++ runtime")
NUMPY_RUNTIME = "executorch-numpy-runtime"


def available_runtime() -> str | None:
    """Which Python runtime runs a .pte here: 'executorch' (with torch), the numpy one, or None."""
    try:
        import executorch.runtime  # noqa: F401  (imports torch: present only where torch is)
        return "executorch"
    except ImportError:
        pass
    try:
        import executorch_numpy_runtime  # noqa: F401
        return NUMPY_RUNTIME
    except ImportError:
        return None


def runtime_versions(runtime: str) -> dict[str, str]:
    """The packages the runtime is, for evidence ('executorch 1.5.1' or the numpy runtime and its ExecuTorch)."""
    if runtime == NUMPY_RUNTIME:
        import executorch_numpy_runtime as en

        return {NUMPY_RUNTIME: metadata.version(NUMPY_RUNTIME), "its executorch": en.__et_version__}
    return {"executorch": metadata.version("executorch")}


class ExecuTorchRunner(Runner):
    backend = "executorch"

    def __init__(self, model_path: str | Path, threads: int | None = None, name: str | None = None) -> None:
        super().__init__(name or f"executorch:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self.threads = threads
        self.runtime: str | None = None
        self._method = None
        self._probed = False

    def _load(self) -> None:
        # the runtimes print to fd 2 themselves: the C++ runtime its CPU probing and thread-pool resets, the
        # first import of ExecuTorch's (torchao, in a fresh process such as the profiling one) its optional
        # kernels and a torch deprecation warning: into the log, not the console
        with native_stderr_to_log("executorch"):
            self.runtime = available_runtime()
        if self.runtime is None:
            raise BackendError(INSTALL_HINT)
        io_path = self.model_path.with_name(self.model_path.stem + ".io.json")
        if not io_path.is_file():
            raise BackendError(f"{self.model_path}: no {io_path.name} beside it (the tensor names of the .pte)")
        io = json.loads(io_path.read_text())
        self._inputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["inputs"]]
        self._outputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["outputs"]]
        with native_stderr_to_log("executorch"):
            try:
                self._method = (self._load_executorch() if self.runtime == "executorch" else self._load_numpy())
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BackendError(f"{self.runtime} cannot load {self.model_path}: {first}") from None

    def _load_executorch(self):
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
        from executorch.runtime import Runtime

        if self.threads:
            _unsafe_reset_threadpool(self.threads)  # XNNPACK's threads: one pool per process
        return Runtime.get().load_program(self.model_path).load_method("forward")

    def _load_numpy(self):
        import executorch_numpy_runtime as en

        return en.Runtime.get().load_program(str(self.model_path)).load_method("forward")

    def _unload(self) -> None:
        self._method = None
        self._probed = False

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = []
        batch = feeds[self._inputs[0].name].shape[0]
        # the .pte is traced at batch 1: a batch runs image by image, as a phone app feeds frames
        for i in range(batch):
            args = [np.ascontiguousarray(feeds[t.name][i:i + 1]) for t in self._inputs]
            outputs.append(self._execute(args))
        return {t.name: np.concatenate([row[k] for row in outputs]) for k, t in enumerate(self._outputs)}

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        if self.runtime == NUMPY_RUNTIME:
            if not self._probed:  # its threadpool starts at the first run, probing the CPU on fd 2: into the log
                self._probed = True
                with native_stderr_to_log("executorch"):
                    return list(self._method(args))
            return list(self._method(args))
        import torch

        return [o.numpy() for o in self._method.execute([torch.from_numpy(a) for a in args])]
