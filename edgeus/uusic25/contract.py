"""The UUSIC25 submission contract, run on a bundle: what the challenge container writes, and its scoring.

``predict`` reads the challenge's JSON record list and images and writes, exactly as the container does, one
PNG mask per segmentation image at ``<output>/<img_path_relative with "img" -> "mask">`` (0/255, original size)
and one ``classification.json`` mapping ``img_path_relative`` to ``{"probability": [...], "prediction": k}``.
It uses only the vendor runtime (no torch), with the container's own conventions for decoding, resizing and
prompting (uusic25/container.py): a record whose organ the container does not know runs with its generic
prompt and is listed, never a reason to stop. ``score`` reads such an output folder against ground truth and
computes the official metrics and the final-score components.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeus.data.layout import mask_path_for
from edgeus.errors import DataError
from edgeus.evidence.challenge_score import mean_present, seg_cls_scores
from edgeus.util.paths import inside

CLASSIFICATION_JSON = "classification.json"


def read_records(input_json: Path) -> list[dict]:
    """The challenge's JSON record list, each record checked for the fields the container reads."""
    try:
        records = json.loads(Path(input_json).read_text())
    except FileNotFoundError:
        raise DataError(f"{input_json}: input JSON not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{input_json}: not a readable JSON record list ({exc.__class__.__name__})") from None
    if not isinstance(records, list):
        raise DataError(f"{input_json}: expected a JSON list of records")
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or not {"img_path_relative", "task", "dataset_name"} <= set(rec):
            raise DataError(f"{input_json}[{n}]: record lacks img_path_relative/task/dataset_name")
        if not isinstance(rec["img_path_relative"], str) or rec["task"] not in ("segmentation", "classification"):
            raise DataError(f"{input_json}[{n}]: img_path_relative must be a string and task 'segmentation' or "
                            f"'classification' (got {rec['task']!r})")
    return records


def predict(bundle: str | Path, input_json: str | Path, input_dir: str | Path, output: str | Path, *,
            mask_mapping: str | None = None, force: bool = False, threads: int | None = None, progress=None,
            max_batch: int = 1, allow_failed: bool = False) -> dict:
    """Run the bundle over the records; returns counts. The output folder appears only when complete."""
    from PIL import Image

    from edgeus.runtime import Record, load
    from edgeus.util.atomic import atomic_dir
    from edgeus.uusic25.container import ContainerConventions

    records = read_records(Path(input_json))
    input_dir, output = Path(input_dir), Path(output)
    if not input_dir.is_dir():
        raise DataError(f"{input_dir}: input folder not found")
    counts = {"segmentation": 0, "classification": 0, "odd_records": []}
    conventions = ContainerConventions()
    # a test set is a throughput job: the engine runs two inferences at once (runtime/bundle.py)
    with load(bundle, threads=threads, streams="throughput", allow_failed=allow_failed) as model, \
            atomic_dir(output, replace=force) as tmp:
        if mask_mapping:
            model.mask_mapping = mask_mapping
        model.predictor.conventions = conventions
        classification: dict[str, dict] = {}

        def planned():  # paths checked as records are read, before any of their pixels are
            for n, rec in enumerate(records):
                where = f"{Path(input_json).name}[{n}]"
                image = inside(input_dir, rec["img_path_relative"], where, DataError)
                target = inside(tmp, mask_path_for(rec["img_path_relative"]), where, DataError) \
                    if rec["task"] == "segmentation" else None
                yield Record(image, rec["dataset_name"], rec["task"], rec.get("organ"), key=(rec, target))

        # pipelined (runtime/pipeline.py): decoding and mask writing overlap inference; order kept
        for done in model.predict_many(planned(), max_batch=max_batch, errors="return"):
            rec, target = done.key
            if done.error is not None:
                raise DataError(f"{rec['img_path_relative']}: {done.error}")
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(done.value).save(target)
            else:
                classification[rec["img_path_relative"]] = {"probability": [float(p) for p in done.value],
                                                            "prediction": int(np.argmax(done.value))}
            counts[rec["task"]] += 1
            odd = conventions.odd(rec["dataset_name"], rec["task"], rec.get("organ"))
            if odd:
                counts["odd_records"].append(f"{rec['img_path_relative']}: {odd}")
            if progress:
                progress(rec["dataset_name"], 1)
        (tmp / CLASSIFICATION_JSON).write_text(json.dumps(classification, indent=1) + "\n")
    return counts


@dataclass
class ContractScore:
    tasks: dict[str, dict] = field(default_factory=dict)       # task key -> {n, dsc, nsd | auc, acc}
    components: dict[str, float | None] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)          # classification tasks out of cls_score (AUC undefined)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def score(pred_dir: str | Path, truth: str | Path, truth_json: str | Path | None = None) -> ContractScore:
    """Official metrics of a container output folder against a ground-truth evaluation folder."""
    from edgeus.data.uusic25 import read_dataset
    from edgeus.evidence.evaluate import TaskPredictions
    from edgeus.evidence.scoring import pool_by_scored_task, score_task

    pred_dir = Path(pred_dir)
    dataset = read_dataset(truth, records=truth_json, images=False)  # masks and records are the truth
    dataset.raise_if_problems()
    samples = [s for s in dataset.samples if s.has_truth]
    if not samples:
        raise DataError(f"{truth}: no ground truth (masks or class labels) in the records; cannot score")
    cls_file = pred_dir / CLASSIFICATION_JSON
    try:
        cls_pred = json.loads(cls_file.read_text()) if cls_file.is_file() else {}
    except json.JSONDecodeError as exc:
        raise DataError(f"{cls_file}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{cls_file}: cannot be read ({exc.__class__.__name__})") from None
    if not isinstance(cls_pred, dict):
        raise DataError(f"{cls_file}: expected a JSON object mapping img_path_relative to its prediction, "
                        f"got a JSON {type(cls_pred).__name__}")
    result = ContractScore()
    row_scores = {}
    for key, task_samples in dataset_by_task(samples).items():
        kind = task_samples[0].task.kind
        preds = TaskPredictions(key, kind)
        for s in task_samples:
            preds.sample_ids.append(s.id)
            preds.groups.append(s.group)
            if kind == "segmentation":
                path = inside(pred_dir, mask_path_for(s.id), s.id, DataError)
                if not path.is_file():
                    raise DataError(f"{path}: prediction missing for {s.id}")
                preds.masks.append(_predicted_mask(path, s))
            else:
                preds.probabilities.append(_probabilities(cls_file, cls_pred, s))
        row_scores[key] = score_task(task_samples, preds)
    # the challenge's tasks: Breast and Breast_luminal lesion masks pooled as one (catalog ``score_as``)
    for key, scores in pool_by_scored_task(row_scores, dataset.catalog).items():
        result.tasks[key] = {"n": scores.n, **scores.summary(), **({"rows": scores.rows} if len(scores.rows) > 1 else {})}
    seg = [t for t in result.tasks.values() if "dsc" in t]
    cls = {k: t for k, t in result.tasks.items() if "auc" in t}
    subtype = [t["auc"] for k, t in cls.items() if _classes(dataset, k) > 2]
    binary = [t["auc"] for k, t in cls.items() if _classes(dataset, k) == 2]
    seg_score, cls_score, accuracy_score = seg_cls_scores(result.tasks)
    result.components = {
        "mean_dsc": mean_present([t["dsc"] for t in seg]), "mean_nsd": mean_present([t["nsd"] for t in seg]),
        "mean_auc_binary": mean_present(binary), "mean_auc_subtype": mean_present(subtype),
        "mean_acc": mean_present([t["acc"] for t in cls.values()]),
        "seg_score": seg_score, "cls_score": cls_score,
        "accuracy_score": accuracy_score,
    }
    # a task whose AUC is undefined (one class in its truth) has no (AUC + ACC) / 2: named, never dropped silently
    result.left_out = sorted(k for k, t in cls.items() if t["auc"] is None)
    result.notes = [f"{k}: AUC undefined (one class in its {cls[k]['n']} truth labels); left out of cls_score and "
                    f"the mean AUC, its accuracy {cls[k]['acc']:.4f} still counts in mean_acc (scikit-learn, which the "
                    "baseline calls, refuses an AUC with one class)" for k in result.left_out]
    if dataset.resolved_by_organ:
        result.notes.append(f"{len(dataset.resolved_by_organ)} record(s) with a dataset name the catalog does not "
                            "know were resolved by organ, as the challenge's container does: "
                            f"{'; '.join(dataset.resolved_by_organ[:5])}")
    result.notes += [
        "seg_score = mean over segmentation tasks of (DSC + NSD) / 2 (FACTS.md); cls_score = mean over classification "
        "tasks of (AUC + ACC) / 2 is edgeus's reading: the official Cls formula was not published.",
        "final = 0.7 * minmax_over_teams(accuracy_score) + 0.3 * efficiency needs the other teams and the unpublished "
        "efficiency formula; accuracy_score is this entry's input to it.",
    ]
    return result


def dataset_by_task(samples: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in samples:
        out.setdefault(s.task.key, []).append(s)
    return out


def _classes(dataset, key: str) -> int:
    return next(len(s.task.classes) for s in dataset.samples if s.task.score_key == key)


def _predicted_mask(path: Path, sample) -> np.ndarray:
    """A predicted mask, checked to be at the truth mask's size (the container writes the original size)."""
    from PIL import Image

    from edgeus.contracts.preprocess import read_mask

    mask = read_mask(path)
    with Image.open(sample.mask_path) as truth:
        width, height = truth.size
    if mask.shape != (height, width):
        raise DataError(f"{path}: the predicted mask is {mask.shape[1]}x{mask.shape[0]}, the image {sample.id} is "
                        f"{width}x{height} (masks are written at the original image size)")
    return mask


def _probabilities(cls_file: Path, cls_pred: dict, sample) -> np.ndarray:
    """One record's probability vector from classification.json, checked: present, numeric, one per class."""
    entry = cls_pred.get(sample.id)
    if entry is None:
        raise DataError(f"{cls_file}: no prediction for {sample.id}")
    values = entry.get("probability") if isinstance(entry, dict) else None
    try:
        probs = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        probs = None
    if probs is None or probs.ndim != 1 or probs.size != len(sample.task.classes) or not np.all(np.isfinite(probs)):
        raise DataError(f"{cls_file}: entry {sample.id!r} needs \"probability\": a list of "
                        f"{len(sample.task.classes)} finite numbers")
    return probs
