"""Read a UUSIC25-layout folder into samples of the task catalog, and say precisely what is wrong with it.

Two layouts are understood:
* training: ``segmentation/<Dataset>/{imgs,masks}/<name>`` and ``classification/<Dataset>/<label>/<name>``,
  each dataset folder with a ``config.yaml`` of ``index:name[:pixel_value]`` lines;
* evaluation: ``{segmentation,classification}/<Dataset>/imgs/*`` plus a JSON list of records
  (``records.json``, or any JSON file given explicitly), with or without ground truth.

Problems are collected, not raised one at a time, so a user fixing a dataset sees all of them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from edgeus.contracts.preprocess import describe_mode
from edgeus.contracts.tasks import TaskCatalog, TaskSpec, load_catalog
from edgeus.data.layout import CLS_DIR, RECORDS_FILE, SEG_DIR
from edgeus.errors import DataError
from edgeus.util.paths import inside

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Sample:
    id: str                 # path relative to the dataset root (unique per task)
    task: TaskSpec
    image_path: Path
    mask_path: Path | None = None
    label: int | None = None
    group: str = "internal"  # internal | external | train

    @property
    def has_truth(self) -> bool:
        return self.mask_path is not None if self.task.kind == "segmentation" else self.label is not None


@dataclass
class UUSDataset:
    root: Path
    layout: str
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    catalog: TaskCatalog = field(default_factory=load_catalog)
    # records whose dataset_name the catalog does not know, resolved from their organ (as the container does)
    resolved_by_organ: list[str] = field(default_factory=list)
    depths: Counter = field(default_factory=Counter)  # image bit depth / mode in words -> count

    def coverage(self) -> dict[str, int]:
        return dict(Counter(s.task.key for s in self.samples))

    def by_task(self) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {}
        for s in self.samples:
            out.setdefault(s.task.key, []).append(s)
        return out

    def require_tasks(self, catalog: TaskCatalog, allow_missing: bool = False) -> list[str]:
        """Task rows of the catalog that have no sample; an error unless ``allow_missing``."""
        present = self.coverage()
        missing = [t.key for t in catalog.tasks if t.key not in present]
        if missing and not allow_missing:
            raise DataError(
                f"{self.root}: no samples for task(s) {', '.join(missing)}; a universal model must be checked on "
                "every task (pass --allow-missing-tasks to accept this)"
            )
        return missing

    def raise_if_problems(self) -> None:
        if self.problems:
            more = f" (+{len(self.problems) - 3} more; run 'edgeus data check {self.root}')" if len(self.problems) > 3 else ""
            raise DataError(f"{self.root}: {len(self.problems)} problem(s): " + "; ".join(self.problems[:3]) + more)


def _image_size(path: Path, problems: list[str], root: Path, depths: Counter) -> tuple[int, int] | None:
    rel = path.relative_to(root) if path.is_relative_to(root) else path.name
    try:
        with Image.open(path) as img:
            description = describe_mode(img.mode)
            if description.endswith("(refused)"):
                problems.append(f"{rel}: unsupported image mode {img.mode!r}")
                return None
            depths[description] += 1
            return img.size
    except FileNotFoundError:
        problems.append(f"{rel}: file missing")
    except Image.DecompressionBombError:
        problems.append(f"{rel}: image too large to decode safely (decompression-bomb limit)")
    except (UnidentifiedImageError, OSError) as exc:
        problems.append(f"{rel}: unreadable image ({exc.__class__.__name__})")
    return None


def _check_mask(image: Path, mask: Path, problems: list[str], root: Path, depths: Counter) -> bool:
    size = _image_size(image, problems, root, depths)
    msize = _image_size(mask, problems, root, Counter())  # masks are labels, not model input
    if size and msize and size != msize:
        problems.append(f"{mask.relative_to(root)}: mask is {msize[0]}x{msize[1]}, image is {size[0]}x{size[1]}")
        return False
    return bool(size and msize)


def parse_config_yaml(path: Path) -> dict[int, str]:
    classes = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 2 or not parts[0].strip().isdigit():
            raise DataError(f"{path}:{n}: expected 'index:name[:pixel_value]', got {line!r}")
        classes[int(parts[0])] = parts[1].strip()
    return classes


def _dataset_tasks(catalog: TaskCatalog, dataset: str, kind: str, where: str, problems: list[str]) -> TaskSpec | None:
    if dataset not in catalog.datasets:
        problems.append(f"{where}: unknown dataset {dataset!r} (catalog has {', '.join(catalog.datasets)})")
        return None
    try:
        return catalog.task(dataset, kind)
    except DataError:
        problems.append(f"{where}: dataset {dataset} has no {kind} task in the catalog")
        return None


def _record_task(catalog: TaskCatalog, rec: dict, where: str, problems: list[str],
                 resolved_by_organ: list[str]) -> TaskSpec | None:
    if rec["dataset_name"] in catalog.datasets:
        return _dataset_tasks(catalog, rec["dataset_name"], rec["task"], where, problems)
    try:
        task, by_organ = catalog.resolve(rec["dataset_name"], rec["task"], rec.get("organ"))
    except DataError as exc:
        problems.append(f"{where}: {exc}")
        return None
    if by_organ:
        resolved_by_organ.append(f"{where} ({rec['dataset_name']!r}, organ {rec.get('organ')!r} -> {task.key})")
    return task


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def read_training(root: Path, catalog: TaskCatalog) -> UUSDataset:
    problems: list[str] = []
    samples: list[Sample] = []
    depths: Counter = Counter()
    for kind, kind_dir in (("segmentation", SEG_DIR), ("classification", CLS_DIR)):
        base = root / kind_dir
        if not base.is_dir():
            continue
        for ds_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            where = f"{kind_dir}/{ds_dir.name}"
            task = _dataset_tasks(catalog, ds_dir.name, kind, where, problems)
            if task is None:
                continue
            if not (ds_dir / "config.yaml").is_file():
                problems.append(f"{where}: config.yaml missing")
            if kind == "segmentation":
                for img in _images(ds_dir / "imgs"):
                    mask = ds_dir / "masks" / img.name
                    if not mask.is_file():
                        problems.append(f"{where}/masks/{img.name}: mask missing for {img.name}")
                        continue
                    if _check_mask(img, mask, problems, root, depths):
                        samples.append(Sample(str(img.relative_to(root)), task, img, mask, None, "train"))
            else:
                for label_dir in sorted(p for p in ds_dir.iterdir() if p.is_dir()):
                    if not label_dir.name.isdigit() or int(label_dir.name) >= len(task.classes):
                        problems.append(
                            f"{where}/{label_dir.name}: label outside the {len(task.classes)} classes of {task.key}"
                        )
                        continue
                    for img in _images(label_dir):
                        if _image_size(img, problems, root, depths):
                            samples.append(Sample(str(img.relative_to(root)), task, img, None, int(label_dir.name), "train"))
    if not samples and not problems:
        problems.append("no segmentation/ or classification/ folders with images found")
    return UUSDataset(root, "training", samples, problems, catalog, depths=depths)


def read_evaluation(root: Path, records_path: Path, catalog: TaskCatalog, images: bool = True) -> UUSDataset:
    """``images``: False for ground truth alone (scoring needs the masks and the records, not the images)."""
    problems: list[str] = []
    try:
        records = json.loads(records_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{records_path}: not a readable JSON record list ({exc})") from None
    if not isinstance(records, list):
        raise DataError(f"{records_path}: expected a JSON list of records")
    samples, resolved_by_organ, depths = [], [], Counter()
    for n, rec in enumerate(records):
        where = f"{records_path.name}[{n}]"
        if not isinstance(rec, dict) or not {"img_path_relative", "task", "dataset_name"} <= set(rec):
            problems.append(f"{where}: record lacks img_path_relative/task/dataset_name")
            continue
        task = _record_task(catalog, rec, where, problems, resolved_by_organ)
        if task is None:
            continue
        try:
            img = inside(root, rec["img_path_relative"], where, DataError)
            mask_rel = rec.get("mask_path_relative") if task.kind == "segmentation" else None
            mask = inside(root, mask_rel, where, DataError) if mask_rel else None
        except DataError as exc:
            problems.append(str(exc))
            continue
        label = None
        if images:
            if _image_size(img, problems, root, depths) is None:
                continue
            if mask is not None and not _check_mask(img, mask, problems, root, Counter()):  # image counted above
                continue
        elif mask is not None and _image_size(mask, problems, root, Counter()) is None:
            continue
        if task.kind == "classification" and rec.get("class_label_index") is not None:
            label = rec["class_label_index"]
            if not isinstance(label, int) or not 0 <= label < len(task.classes):
                problems.append(f"{where}: class_label_index {label!r} outside the {len(task.classes)} classes of {task.key}")
                continue
        group = rec.get("data_partition_group") or "internal"
        samples.append(Sample(rec["img_path_relative"], task, img, mask, label, group))
    return UUSDataset(root, "evaluation", samples, problems, catalog, resolved_by_organ, depths)


def read_dataset(path: str | Path, catalog: TaskCatalog | None = None, records: str | Path | None = None,
                 images: bool = True) -> UUSDataset:
    """Read a dataset folder (layout detected) or an evaluation folder with an explicit records JSON.
    ``images=False``: an evaluation folder's ground truth without its images (masks and records only).
    Problems (unreadable images, masks of another size) are collected in ``.problems``, not raised.

    Example::

        import edgeus
        dataset = edgeus.read_dataset("ph/val")                 # a phantom split or a UUSIC25 folder
        print(dataset.layout, len(dataset.samples), dataset.coverage(), dataset.problems[:3])
    """
    catalog = catalog or load_catalog()
    root = Path(path).absolute()  # samples must stay valid when a tool changes the working directory
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    if records is not None:
        return read_evaluation(root, Path(records), catalog, images)
    if (root / RECORDS_FILE).is_file():
        return read_evaluation(root, root / RECORDS_FILE, catalog, images)
    if (root / SEG_DIR).is_dir() or (root / CLS_DIR).is_dir():
        return read_training(root, catalog)
    raise DataError(
        f"{root}: neither a training layout (segmentation/, classification/) nor an evaluation folder with "
        f"{RECORDS_FILE}; for a phantom root, name a split folder (train, val, external)"
    )

