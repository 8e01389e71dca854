"""Image in, mask or probabilities out: the bundle's pre- and postprocessing around one runner.

Split into ``prepare`` (decode + preprocess one image), ``infer`` (one batch of prepared images of one task)
and ``finish`` (one output back to the image's own size), so the pipelined predictor (runtime/pipeline.py)
can run them on different threads and overlap them. ``predict`` is the three in a row.

A Predictor holds no per-call state: any number of threads may call it at once (the runner is thread-safe,
see backends/openvino/runner.py). Built from a bundle manifest (runtime/bundle.py) or, during a build, from
the model spec (the profile stage measures exactly this code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeus.contracts.feeds import feeds_by_role
from edgeus.contracts.preprocess import Preprocessing, mask_to_original, preprocess, read_image, softmax
from edgeus.errors import DataError, EdgeusError


@dataclass(frozen=True)
class Task:
    dataset: str
    kind: str
    classes: tuple[str, ...]
    output: str
    prompt: np.ndarray
    organs: tuple[str, ...] = ()  # lower-case organ names a test-set record may give (catalog organ, JSON organ)


@dataclass(frozen=True)
class Prepared:
    """One image ready for the model: its task, its tensor (3 x S x S) and its original size."""
    task: Task
    tensor: np.ndarray
    width: int
    height: int


def as_pixels(image: str | Path | bytes | np.ndarray, error: type[Exception] = DataError) -> np.ndarray:
    """A path, encoded bytes or an array -> uint8 H x W x 3, or H x W for grayscale (which preprocessing
    reads as the same gray in three channels: identical numbers, a third of the work)."""
    if not isinstance(image, str | Path | bytes | np.ndarray):
        raise error(f"expected an image path, encoded bytes or a uint8 array, got {type(image).__name__}")
    pixels = image if isinstance(image, np.ndarray) else read_image(image, keep_gray=True)
    if pixels.dtype != np.uint8:
        raise error(f"expected a uint8 image array, got {pixels.dtype}")
    if pixels.ndim != 2 and (pixels.ndim != 3 or pixels.shape[2] != 3):
        raise error(f"expected an H x W or H x W x 3 image array, got shape {pixels.shape}")
    return pixels


class RuntimeConventions:
    """How a record becomes model input in the vendor runtime: the catalog row by dataset name (organ for an
    unknown name), images decoded by bit depth (16-bit scaled, never clipped), the true image edge
    interpolated. The UUSIC25 contract path swaps in the challenge container's own (uusic25/container.py)."""

    name = "edgeus runtime"

    def task(self, predictor: Predictor, dataset: str, kind: str, organ: str | None) -> Task:
        return predictor.task(dataset, kind, organ)

    def pixels(self, image, error: type[Exception]) -> np.ndarray:
        return as_pixels(image, error)

    def tensor(self, pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
        return preprocess(pixels, spec)


class Predictor:
    def __init__(self, runner, preprocessing: Preprocessing, inputs: list[tuple[str, str]], tasks: list[Task],
                 mask_mapping: str, error: type[EdgeusError] = EdgeusError) -> None:
        self.runner = runner
        self.preprocessing = preprocessing
        self.inputs = inputs  # (name, role) of the model's inputs
        self.tasks = tasks
        self.mask_mapping = mask_mapping
        self.error = error
        self.conventions = RuntimeConventions()

    # --- tasks -----------------------------------------------------------------------------------
    def task(self, dataset: str, kind: str, organ: str | None = None) -> Task:
        """The task row for a dataset name; an unknown name is resolved from ``organ`` (as the challenge's
        container builds its prompt from organ and task), first matching row in catalog order."""
        for t in self.tasks:
            if t.dataset == dataset and t.kind == kind:
                return t
        if isinstance(organ, str) and all(t.dataset != dataset for t in self.tasks):
            for t in self.tasks:
                if t.kind == kind and organ.lower() in t.organs:
                    return t
        valid = ", ".join(f"{t.dataset}/{t.kind}" for t in self.tasks)
        hint = f" or organ {organ!r}" if organ else ""
        raise self.error(f"the bundle has no task {dataset}/{kind}{hint}; valid: {valid}")

    def knows_dataset(self, dataset: str) -> bool:
        return any(t.dataset == dataset for t in self.tasks)

    # --- the three steps ---------------------------------------------------------------------------
    def prepare(self, image, dataset: str, kind: str = "segmentation", organ: str | None = None) -> Prepared:
        spec = self.conventions.task(self, dataset, kind, organ)
        pixels = self.conventions.pixels(image, self.error)
        return Prepared(spec, self.conventions.tensor(pixels, self.preprocessing), pixels.shape[1], pixels.shape[0])

    def feeds(self, tensor: np.ndarray, task: Task) -> dict[str, np.ndarray]:
        """Model inputs for a batch of preprocessed images (N x 3 x S x S) and one task."""
        return feeds_by_role(self.inputs, tensor, task.prompt, self.error)

    def infer(self, batch: list[Prepared], pad_to: int = 1) -> list[np.ndarray]:
        """One inference over prepared images that share a task; one output row per image. ``pad_to``: a
        partial micro-batch (more than one image, fewer than pad_to) is padded to pad_to with copies of its
        last image, so the engine only ever sees batch 1 and the micro-batch size (an OpenVINO engine compiles
        a static shape per batch size it meets: a 2 or a 3 would cost a compile mid-stream)."""
        task = batch[0].task
        if any(p.task is not task for p in batch):
            raise self.error("a batch must hold one task's images")
        tensors = [p.tensor for p in batch]
        if 1 < len(tensors) < pad_to:
            tensors += [tensors[-1]] * (pad_to - len(tensors))
        tensor = tensors[0][None] if len(tensors) == 1 else np.stack(tensors)
        values = self.runner.infer(self.feeds(tensor, task))[task.output][:len(batch)]
        if not np.all(np.isfinite(values)):
            raise self.error(f"the model produced non-finite {task.output} for this image")
        return list(values)

    def finish(self, prepared: Prepared, value: np.ndarray) -> np.ndarray:
        if prepared.task.kind == "segmentation":
            return mask_to_original(value, prepared.width, prepared.height, self.mask_mapping, self.preprocessing)
        return softmax(value.astype(np.float64))

    def predict(self, image, dataset: str, kind: str = "segmentation", organ: str | None = None) -> np.ndarray:
        prepared = self.prepare(image, dataset, kind, organ)
        return self.finish(prepared, self.infer([prepared])[0])
