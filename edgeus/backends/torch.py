"""Torch runner: the reference (fp32, eval mode, no grad) every other backend is compared against."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgeus.backends.base import Runner, TensorMeta

if TYPE_CHECKING:
    import torch

    from edgeus.contracts.spec import ModelSpec


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, module: torch.nn.Module, spec: ModelSpec, threads: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(name or f"torch:{spec.name}")
        self.module = module
        self.spec = spec
        self.threads = threads
        self._previous_threads: int | None = None

    def _load(self) -> None:
        import torch

        self.module.eval()
        if self.threads:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def _unload(self) -> None:
        import torch

        if self._previous_threads:
            torch.set_num_threads(self._previous_threads)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.spec.input_names]
        with torch.inference_mode():
            out = self.module(*args)
        if isinstance(out, torch.Tensor):
            out = (out,)
        if len(out) != len(self.spec.outputs):
            from edgeus.errors import SpecError

            raise SpecError(
                f"model returned {len(out)} outputs but the spec names {len(self.spec.outputs)}: "
                f"{', '.join(self.spec.output_names)}"
            )
        return {n: t.detach().cpu().numpy() for n, t in zip(self.spec.output_names, out, strict=True)}

    def input_metadata(self) -> list[TensorMeta]:
        return [TensorMeta(t.name, tuple(t.shape), t.dtype) for t in self.spec.inputs]

    def output_metadata(self) -> list[TensorMeta]:
        return [TensorMeta(t.name, tuple(t.shape), t.dtype) for t in self.spec.outputs]
