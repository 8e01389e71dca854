"""Calibration data for post-training quantization, stratified across every task row.

A universal model's activations depend on the organ and the prompt, so calibrating on one organ ruins
another: samples are drawn per task row (seeded), capped in total, and each carries its own prompt. The
plan holds only sample ids; images are read and preprocessed one at a time when a quantizer iterates, so
memory stays bounded whatever the dataset size. The fingerprint (sha256 of the ordered sample ids and the
preprocessing) and the coverage table go into the quantized model's record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgeus.contracts.feeds import feeds_by_role, spec_inputs
from edgeus.contracts.preprocess import preprocess, read_image
from edgeus.contracts.spec import ModelSpec
from edgeus.data.uusic25 import Sample, UUSDataset
from edgeus.errors import DataError


@dataclass(frozen=True)
class CalibrationPlan:
    samples: tuple[Sample, ...]
    coverage: dict[str, int]
    fingerprint: str
    seed: int

    def __len__(self) -> int:
        return len(self.samples)

    def record(self) -> dict:
        return {"fingerprint": self.fingerprint, "samples": len(self.samples), "seed": self.seed,
                "coverage": self.coverage}


def plan_calibration(dataset: UUSDataset, spec: ModelSpec, *, per_task: int = 16, max_samples: int = 300,
                     seed: int = 0, allow_missing_tasks: bool = False) -> CalibrationPlan:
    catalog = spec.task_catalog()
    if not dataset.samples:
        raise DataError(f"{dataset.root}: the calibration set is empty (no readable samples)")
    dataset.raise_if_problems()
    dataset.require_tasks(catalog, allow_missing=allow_missing_tasks)
    by_task = dataset.by_task()
    rows = [t for t in catalog.tasks if t.key in by_task]
    # the cap is shared evenly so no task row loses its place to a larger one
    quota = max(1, min(per_task, max_samples // len(rows)))
    rng = np.random.default_rng(seed)
    chosen: list[Sample] = []
    coverage: dict[str, int] = {}
    for task in rows:
        pool = sorted(by_task[task.key], key=lambda s: s.id)
        picks = sorted(rng.choice(len(pool), size=min(quota, len(pool)), replace=False).tolist())
        chosen += [pool[i] for i in picks]
        coverage[task.key] = len(picks)
    ids = [f"{s.task.key}|{s.id}" for s in chosen]
    payload = json.dumps({"ids": ids, "preprocessing": spec.preprocessing}, sort_keys=True).encode()
    return CalibrationPlan(tuple(chosen), coverage, hashlib.sha256(payload).hexdigest(), seed)


def iter_feeds(plan: CalibrationPlan, spec: ModelSpec) -> Iterator[dict[str, np.ndarray]]:
    """Batch-1 feeds in plan order, read and preprocessed lazily (bounded memory)."""
    catalog = spec.task_catalog()
    pre = spec.preprocessing_spec()
    for sample in plan.samples:
        image = preprocess(read_image(sample.image_path, sample.id), pre)
        yield feeds_by_role(spec_inputs(spec), image[None], catalog.prompt(sample.task))


class FeedsReader:
    """ONNX Runtime's CalibrationDataReader protocol over a plan (get_next() -> feeds or None)."""

    def __init__(self, plan: CalibrationPlan, spec: ModelSpec) -> None:
        self._plan, self._spec = plan, spec
        self._iter = iter_feeds(plan, spec)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter_feeds(self._plan, self._spec)


def plan_for_profile(dataset: UUSDataset, spec, quantization, *, seed: int, allow_missing_tasks: bool,
                     per_task: int | None = None, max_samples: int | None = None) -> CalibrationPlan:
    """The calibration plan a profile's ``[quantization]`` asks for (``per_task``/``max_samples`` override it):
    the one place the build and ``edgeus quantize`` make their plans."""
    return plan_calibration(dataset, spec, per_task=per_task or quantization.calibration_samples_per_task,
                            max_samples=max_samples or quantization.calibration_max_samples, seed=seed,
                            allow_missing_tasks=allow_missing_tasks)
