"""``edgeus data phantom``: a synthetic UUSIC25 dataset (training layout + evaluation splits with JSON).

Splits: ``train`` (challenge training layout with ``config.yaml``), ``val`` (internal centre) and
``external`` (an unseen centre: other gain, coarser speckle, other probe geometry), both in the
evaluation layout (``{segmentation,classification}/<Dataset>/imgs`` + ``records.json``) with the ground
truth filled in (masks under ``masks/``, labels in the records). Every sample has its own seed derived from
(seed, split, task row, index), so the same seed gives the same bytes and any sample can be regenerated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from edgeus import __version__
from edgeus.contracts.tasks import TaskCatalog, TaskSpec, load_catalog
from edgeus.data.layout import CLS_DIR, RECORDS_FILE, SEG_DIR, config_yaml, mask_path_for
from edgeus.data.phantom_scenes import make_scene
from edgeus.data.phantom_shift import shifted_domain
from edgeus.data.phantom_sim import EXTERNAL, INTERNAL, Domain, simulate
from edgeus.errors import DataError
from edgeus.util.atomic import atomic_dir

SPLITS: dict[str, Domain] = {"train": INTERNAL, "val": INTERNAL, "external": EXTERNAL}


@dataclass
class PhantomSummary:
    root: str
    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task key -> images


def sample_seed(seed: int, split: str, row: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, list(SPLITS).index(split), row, index])


def render_sample(task: TaskSpec, row: int, split: str, index: int, seed: int,
                  domain: Domain | None = None) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """One image (uint8 H x W), its mask (segmentation) and its label (classification, balanced by index).
    ``domain``: acquisition settings other than the split's own (a native shift, data/phantom_shift.py); the
    scene is the split's, drawn from the same seed."""
    rng = np.random.default_rng(sample_seed(seed, split, row, index))
    label = index % len(task.classes) if task.kind == "classification" else None
    scene = make_scene(task.dataset, task.kind, rng, label)
    image, mask = simulate(scene, rng, domain or SPLITS[split])
    return image, mask if task.kind == "segmentation" else None, label


def _name(task: TaskSpec, index: int) -> str:
    # Never contains "img", so the challenge's img->mask path mapping touches only the folder.
    return f"{task.dataset.lower()}_{task.kind[:3]}_{index:04d}.png"


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode="L").save(path, format="PNG", optimize=False)


def _write_train(root: Path, task: TaskSpec, row: int, n: int, seed: int, domain: Domain) -> None:
    kind_dir = SEG_DIR if task.kind == "segmentation" else CLS_DIR
    base = root / "train" / kind_dir / task.dataset
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.yaml").write_text(config_yaml(task.classes, task.kind == "segmentation"))
    for i in range(n):
        image, mask, label = render_sample(task, row, "train", i, seed, domain)
        name = _name(task, i)
        if task.kind == "segmentation":
            _save_png(image, base / "imgs" / name)
            _save_png(mask, base / "masks" / name)
        else:
            _save_png(image, base / str(label) / name)


def _write_eval(root: Path, split: str, task: TaskSpec, row: int, n: int, seed: int, domain: Domain) -> list[dict]:
    kind_dir = SEG_DIR if task.kind == "segmentation" else CLS_DIR
    records = []
    for i in range(n):
        image, mask, label = render_sample(task, row, split, i, seed, domain)
        name = _name(task, i)
        rel = f"{kind_dir}/{task.dataset}/imgs/{name}"
        _save_png(image, root / split / rel)
        record = {
            "img_name": name, "img_path_relative": rel, "img_size_bytes": (root / split / rel).stat().st_size,
            "img_dimensions": [int(image.shape[1]), int(image.shape[0])], "img_format": "png", "task": task.kind,
            "dataset_name": task.dataset, "organ": task.json_organ,
            "data_partition_group": "internal" if split == "val" else "external",
            "mask_name": None, "mask_path_relative": None, "seg_target_info": None,
            "class_label_index": None, "class_label_name": None,
        }
        if task.kind == "segmentation":
            mask_rel = mask_path_for(rel)
            _save_png(mask, root / split / mask_rel)
            record.update(mask_name=name, mask_path_relative=mask_rel, seg_target_info=f"1:{task.classes[1]}:255")
        else:
            record.update(class_label_index=label, class_label_name=task.classes[label])
        records.append(record)
    return records


def generate_phantom(out: str | Path, per_task: int = 24, seed: int = 0, splits: tuple[str, ...] = tuple(SPLITS),
                     train_per_task: int | None = None, force: bool = False, catalog: TaskCatalog | None = None,
                     progress: Callable[[str, int], None] | None = None,
                     shift: dict[str, int] | None = None) -> PhantomSummary:
    """Write the dataset to ``out`` atomically (temp folder, then rename). ``progress(label, n)`` is told
    after each task row. ``shift``: family -> severity generated natively (data/phantom_shift.py), the same
    scenes as without it.

    Example::

        import edgeus
        summary = edgeus.generate_phantom("ph", per_task=2, seed=1, splits=("train", "val"))
        print(summary.root, summary.counts["val"])          # images per task row
        edgeus.generate_phantom("ph-gain", per_task=2, shift={"gain": 3})   # the same scenes, other gain
    """
    out = Path(out)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise DataError(f"unknown split(s) {', '.join(unknown)}; valid: {', '.join(SPLITS)}")
    if per_task < 1:
        raise DataError("--per-task must be at least 1")
    shift = dict(shift or {})
    try:
        domains = {split: shifted_domain(SPLITS[split], shift) for split in splits}
    except ValueError as exc:
        raise DataError(f"--shift: {exc}") from None
    catalog = catalog or load_catalog()
    summary = PhantomSummary(str(out), seed)
    with atomic_dir(out, replace=force) as tmp:
        for split in splits:
            n = (train_per_task or per_task) if split == "train" else per_task
            records: list[dict] = []
            for row, task in enumerate(catalog.tasks):
                if split == "train":
                    _write_train(tmp, task, row, n, seed, domains[split])
                else:
                    records += _write_eval(tmp, split, task, row, n, seed, domains[split])
                summary.counts.setdefault(split, {})[task.key] = n
                if progress:
                    progress(f"{split} {task.key}", n)
            if split != "train":
                (tmp / split / RECORDS_FILE).write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
        (tmp / "phantom.json").write_text(json.dumps(
            {"generator": "edgeus phantom", "edgeus_version": __version__, "seed": seed, "per_task": per_task, "train_per_task": train_per_task or per_task,
             "splits": list(splits), "counts": summary.counts, "shift": shift}, indent=1, sort_keys=True) + "\n")
    return summary
