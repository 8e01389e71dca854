"""Where data comes from when the user gives none: phantom data generated once into a cache folder."""

from __future__ import annotations

from pathlib import Path

from edgeus.data.phantom import generate_phantom
from edgeus.util.cache import cache_dir  # noqa: F401 -- re-exported (its callers import it from here)

DEFAULT_SEED, DEFAULT_PER_TASK = 0, 24


def default_phantom(per_task: int = DEFAULT_PER_TASK, seed: int = DEFAULT_SEED, progress=None) -> Path:
    """The phantom dataset (train, val, external) for this seed/size, generated on first use."""
    root = cache_dir() / f"phantom-seed{seed}-n{per_task}"
    if not (root / "phantom.json").is_file():
        generate_phantom(root, per_task=per_task, seed=seed, force=True, progress=progress)
    return root


def split_folder(root: Path, purpose: str) -> Path:
    """A phantom/UUSIC25 root holds splits; calibration reads ``train``, validation ``val`` (+ ``external``).
    A folder that is itself a dataset is used as is."""
    wanted = {"calibration": "train", "validation": "val", "external": "external"}[purpose]
    return root / wanted if (root / wanted).is_dir() else root


def validation_splits(data: Path, spec, allow_missing: bool) -> dict:
    """Samples with ground truth of the internal (``val``) and, where there is one, external split."""
    from edgeus.data.uusic25 import read_dataset

    splits = {}
    for name, purpose in (("internal", "validation"), ("external", "external")):
        folder = split_folder(data, purpose)
        if purpose == "external" and folder == data:
            continue  # a plain dataset folder has no separate external split
        dataset = read_dataset(folder, spec.task_catalog())
        dataset.raise_if_problems()
        dataset.require_tasks(spec.task_catalog(), allow_missing=allow_missing)
        splits[name] = [s for s in dataset.samples if s.has_truth]
    return splits
