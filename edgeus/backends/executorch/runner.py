"""Runs an ExecuTorch ``.pte`` with ExecuTorch's Python runtime (its XNNPACK kernels; threads set on its
shared threadpool). The tensor names come from ``model.io.json`` beside the ``.pte`` (a ``.pte`` has none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError
from edgeus.util.native_stderr import native_stderr_to_log

INSTALL_HINT = ("ExecuTorch is not installed: pip install 'edgeus[executorch]' (its Python runtime needs torch; "
                "a phone runs the .pte with ExecuTorch's C++ runtime)")


class ExecuTorchRunner(Runner):
    backend = "executorch"

    def __init__(self, model_path: str | Path, threads: int | None = None, name: str | None = None) -> None:
        super().__init__(name or f"executorch:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self.threads = threads
        self._method = None

    def _load(self) -> None:
        try:
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
            from executorch.runtime import Runtime
        except ImportError:
            raise BackendError(INSTALL_HINT) from None
        io_path = self.model_path.with_name(self.model_path.stem + ".io.json")
        if not io_path.is_file():
            raise BackendError(f"{self.model_path}: no {io_path.name} beside it (the tensor names of the .pte)")
        io = json.loads(io_path.read_text())
        self._inputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["inputs"]]
        self._outputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["outputs"]]
        # the C++ runtime prints its CPU probing and thread-pool resets to fd 2: into the log, not the console
        with native_stderr_to_log("executorch"):
            if self.threads:
                _unsafe_reset_threadpool(self.threads)  # XNNPACK's threads: one pool per process
            try:
                program = Runtime.get().load_program(self.model_path)
                self._method = program.load_method("forward")
            except Exception as exc:
                raise BackendError(f"ExecuTorch cannot load {self.model_path}: {exc}") from None

    def _unload(self) -> None:
        self._method = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        outputs = []
        batch = feeds[self._inputs[0].name].shape[0]
        # the .pte is traced at batch 1: a batch runs image by image, as a phone app feeds frames
        for i in range(batch):
            args = [torch.from_numpy(np.ascontiguousarray(feeds[t.name][i:i + 1])) for t in self._inputs]
            outputs.append([o.numpy() for o in self._method.execute(args)])
        return {t.name: np.concatenate([row[k] for row in outputs]) for k, t in enumerate(self._outputs)}
