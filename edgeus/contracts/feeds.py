"""Model inputs by role, in one place: a batch of preprocessed images for the ``image`` input, the task's
prompt vector repeated for the ``prompt`` input. Evaluation, calibration, profiling, conformance vectors and
the vendor runtime all build their feeds here (numpy only: the runtime uses it)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from edgeus.errors import DataError


def feeds_by_role(inputs: Iterable[tuple[str, str]], images: np.ndarray, prompt: np.ndarray,
                  error: type[Exception] = DataError) -> dict[str, np.ndarray]:
    """``inputs``: (name, role) pairs; ``images``: N x 3 x S x S; ``prompt``: one task's prompt vector."""
    images = np.asarray(images, dtype=np.float32)
    feeds = {}
    for name, role in inputs:
        if role == "image":
            feeds[name] = images
        elif role == "prompt":
            feeds[name] = np.repeat(np.asarray(prompt, dtype=np.float32)[None], len(images), axis=0)
        else:
            raise error(f"input {name!r} has role {role!r}; edgeus can feed only 'image' and 'prompt' inputs")
    return feeds


def spec_inputs(spec) -> list[tuple[str, str]]:
    """(name, role) of a ModelSpec's inputs."""
    return [(inp.name, inp.role) for inp in spec.inputs]
