"""Runs an ``.mlpackage`` with Core ML through coremltools' ``MLModel.predict`` (Core ML's compute units: CPU,
GPU and the Neural Engine): on macOS only, where Core ML exists. Elsewhere loading says so in one line. The
tensor names come from ``model.io.json`` beside the package (the spec's, which the package also carries)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.errors import BackendError


class CoreMLRunner(Runner):
    backend = "coreml"

    def __init__(self, model_path: str | Path, compute_units: str = "ALL", name: str | None = None) -> None:
        super().__init__(name or f"coreml:{Path(model_path).name}")
        self.model_path = Path(model_path)
        self.compute_units = compute_units
        self._model = None

    def _load(self) -> None:
        if platform.system() != "Darwin":
            raise BackendError(f"{self.model_path}: Core ML predicts only on macOS (this machine runs "
                               f"{platform.system()}); finalize the bundle on a Mac")
        try:
            import coremltools as ct
        except ImportError:
            raise BackendError("coremltools is not installed: pip install 'edgeus[coreml]'") from None
        io = json.loads(self.model_path.with_name("model.io.json").read_text())
        self._inputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["inputs"]]
        self._outputs = [TensorMeta(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["outputs"]]
        try:
            self._model = ct.models.MLModel(str(self.model_path),
                                            compute_units=getattr(ct.ComputeUnit, self.compute_units))
        except Exception as exc:
            raise BackendError(f"Core ML cannot load {self.model_path}: {exc}") from None

    def _unload(self) -> None:
        self._model = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = feeds[self._inputs[0].name].shape[0]
        rows = []
        for i in range(batch):  # converted at batch 1: a batch runs frame by frame, as an app feeds them
            out = self._model.predict({t.name: np.ascontiguousarray(feeds[t.name][i:i + 1]) for t in self._inputs})
            rows.append([np.asarray(out[t.name], dtype=np.float32) for t in self._outputs])
        return {t.name: np.concatenate([row[k] for row in rows]) for k, t in enumerate(self._outputs)}
