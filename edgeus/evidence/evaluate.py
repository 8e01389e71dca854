"""Run any Runner over a dataset's samples, task by task, and score them with the challenge's metrics.

Images go through the one shared preprocessing; each task's samples are batched with that task's prompt;
masks come back at the original size. Only per-sample results are kept (masks, probabilities), never
the whole preprocessed set, so memory stays bounded by the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgeus.contracts.feeds import feeds_by_role, spec_inputs
from edgeus.contracts.preprocess import mask_to_original, preprocess, read_image, softmax
from edgeus.contracts.preprocess import read_mask as read_mask_file
from edgeus.contracts.spec import ModelSpec
from edgeus.data.uusic25 import Sample
from edgeus.errors import DataError

if TYPE_CHECKING:  # a Runner is only a type here: evidence sits below the backends
    from edgeus.backends.base import Runner


@dataclass
class TaskPredictions:
    task_key: str
    kind: str
    sample_ids: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)          # segmentation, original size, {0,255}
    probabilities: list[np.ndarray] = field(default_factory=list)  # classification
    logits: list[np.ndarray] = field(default_factory=list)         # the task's output, model resolution (fidelity)


def _feeds(spec: ModelSpec, images: list[np.ndarray], prompt: np.ndarray) -> dict[str, np.ndarray]:
    return feeds_by_role(spec_inputs(spec), np.stack(images), prompt)


def predict(runner: Runner, spec: ModelSpec, samples: list[Sample], batch_size: int = 8,
            mask_mapping: str = "uncrop", keep_logits: bool = False,
            progress: Callable[[str, int], None] | None = None,
            transform: Callable[[np.ndarray, Sample], np.ndarray] | None = None) -> dict[str, TaskPredictions]:
    """``transform(image, sample)``: applied to each decoded uint8 image before preprocessing (a shift,
    data/shifts.py); the mask goes back to the image's size as usual."""
    catalog = spec.task_catalog()
    pre = spec.preprocessing_spec()
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault(s.task.key, []).append(s)
    results: dict[str, TaskPredictions] = {}
    for key, task_samples in by_task.items():
        task = task_samples[0].task
        prompt = catalog.prompt(task)
        out = results[key] = TaskPredictions(key, task.kind)
        for start in range(0, len(task_samples), batch_size):
            chunk = task_samples[start:start + batch_size]
            raw = [read_image(s.image_path, s.id) for s in chunk]
            if transform is not None:
                raw = [transform(r, s) for r, s in zip(raw, chunk, strict=True)]
            outputs = runner.infer(_feeds(spec, [preprocess(r, pre) for r in raw], prompt))
            values = outputs[task.output]
            if not keep_logits and not np.all(np.isfinite(values)):
                bad = [chunk[i].id for i in range(len(chunk)) if not np.all(np.isfinite(values[i]))]
                raise DataError(f"{runner.name}: non-finite {task.output} for {', '.join(bad[:3])}")
            for i, s in enumerate(chunk):
                out.sample_ids.append(s.id)
                out.groups.append(s.group)
                if keep_logits:
                    out.logits.append(values[i])
                if task.kind == "segmentation":
                    h, w = raw[i].shape[:2]
                    out.masks.append(mask_to_original(values[i], w, h, mask_mapping, pre))
                else:
                    probs = softmax(np.nan_to_num(values[i].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0))
                    out.probabilities.append(probs)
            if progress:
                progress(key, len(chunk))
    return results


def read_mask(sample: Sample) -> np.ndarray:
    return read_mask_file(sample.mask_path, str(sample.mask_path))
