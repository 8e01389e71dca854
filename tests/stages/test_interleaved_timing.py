"""Side-by-side timing: every model runs once per round (one settling call, one timed), and the order reverses
every other round, so no model is always timed right after the same neighbour."""

from __future__ import annotations

import contextlib

import numpy as np

from edgeus.backends.base import Runner, TensorMeta
from edgeus.stages.profile import measure_interleaved


class _Recording(Runner):
    """A real Runner that records when it ran (shared log), computing nothing."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name)
        self.log = log
        self._inputs = [TensorMeta("x", (1,), "float32")]
        self._outputs = [TensorMeta("y", (1,), "float32")]

    def _load(self) -> None: ...

    def _unload(self) -> None: ...

    def _infer(self, feeds):
        self.log.append(self.name)
        return {"y": feeds["x"]}


def test_the_order_reverses_every_other_round():
    log: list[str] = []
    factories = {n: (lambda n=n: _Recording(n, log)) for n in ("a", "b", "c")}
    result = measure_interleaved(factories, {"x": np.zeros(1, np.float32)}, rounds=4, min_s=0.0,
                                 progress_for=lambda *a: contextlib.nullcontext(lambda *x: None))
    assert {name: r["rounds"] for name, r in result.items()} == {"a": 4, "b": 4, "c": 4}
    timed = log[3:]  # after one warm-up call each: per model a settling call and a timed call
    rounds = [[timed[i] for i in range(start, start + 6, 2)] for start in range(0, len(timed), 6)]
    assert rounds == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"], ["c", "b", "a"]]
    assert all(timed[i] == timed[i + 1] for i in range(0, len(timed), 2))  # settle, then time, the same model
