"""The task catalog of a universal model: which dataset/task rows exist, their prompts and their output.

The catalog is data (``edgeus/catalog/<name>.toml``); this module only loads it and builds the prompt
vectors from it. The rest of edgeus never hard-codes a dataset name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeus._compat import tomllib
from edgeus.errors import DataError, SpecError

CATALOG_DIR = Path(__file__).resolve().parents[1] / "catalog"

TaskKind = Literal["segmentation", "classification"]
TASK_INDEX = {"segmentation": 0, "classification": 1}
TYPE_WHOLE = 0  # the baseline's "whole image" type prompt, the only one used at inference


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    organ: str
    kind: TaskKind
    classes: list[str] = Field(min_length=2)
    position: int = Field(ge=0)
    nature: int = Field(ge=0)
    output: str
    json_organ: str
    scored: bool = True
    # Rows with the same ``score_as`` are scored as one task over all their images (UUSIC25's "Breast_all").
    score_as: str | None = None

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``Breast/segmentation``."""
        return f"{self.dataset}/{self.kind}"

    @property
    def score_key(self) -> str:
        """The task this row is scored as, e.g. ``Breast_all/segmentation``; its own key when not pooled."""
        return f"{self.score_as or self.dataset}/{self.kind}"

    @property
    def short(self) -> str:
        return f"{self.dataset}-{'seg' if self.kind == 'segmentation' else 'cls'}"


class TaskCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    prompt_layout: list[tuple[str, int]]
    positions: list[str]
    natures: list[str]
    tasks: list[TaskSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> TaskCatalog:
        layout = dict(self.prompt_layout)
        if list(layout) != ["position", "task", "type", "nature"]:
            raise ValueError("prompt_layout must be position, task, type, nature in that order")
        keys = [t.key for t in self.tasks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate task rows: {keys}")
        for t in self.tasks:
            if t.position >= layout["position"] or t.nature >= layout["nature"]:
                raise ValueError(f"{t.key}: prompt index outside the layout")
        return self

    @property
    def prompt_length(self) -> int:
        return sum(n for _, n in self.prompt_layout)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(t.dataset for t in self.tasks))

    def score_groups(self) -> dict[str, list[str]]:
        """Scored task -> the row keys pooled into it (one rule for every score and summary)."""
        groups: dict[str, list[str]] = {}
        for t in self.tasks:
            if t.scored:
                groups.setdefault(t.score_key, []).append(t.key)
        return groups

    def score_key_of(self, row_key: str) -> str:
        """The scored task a row belongs to (its own key for rows the catalog does not know or score)."""
        return next((t.score_key for t in self.tasks if t.key == row_key and t.scored), row_key)

    def resolve(self, dataset: str, kind: str, organ: str | None = None) -> tuple[TaskSpec, bool]:
        """The row for a test-set record -> (row, resolved by organ). A dataset name the catalog does not know
        (e.g. "BUSIS") is resolved from the record's ``organ`` and task, as the challenge's container builds
        its prompt; where an organ has several rows of one kind, the first in catalog order (Breast's binary
        head before Breast_luminal's subtypes)."""
        if dataset in self.datasets:
            return self.task(dataset, kind), False
        if isinstance(organ, str):
            by_organ = [t for t in self.tasks if t.kind == kind and organ.lower() in (t.json_organ.lower(), t.organ.lower())]
            if by_organ:
                return by_organ[0], True
        organs = ", ".join(dict.fromkeys(t.json_organ for t in self.tasks))
        raise DataError(f"unknown dataset {dataset!r} and no {kind} task for organ {organ!r} in catalog {self.name!r} "
                        f"(datasets: {', '.join(self.datasets)}; organs: {organs})")

    def task(self, dataset: str, kind: str) -> TaskSpec:
        for t in self.tasks:
            if t.dataset == dataset and t.kind == kind:
                return t
        valid = ", ".join(t.key for t in self.tasks)
        raise DataError(f"no task {dataset}/{kind} in catalog {self.name!r}; valid: {valid}")

    def tasks_of(self, dataset: str) -> list[TaskSpec]:
        found = [t for t in self.tasks if t.dataset == dataset]
        if not found:
            raise DataError(f"unknown dataset {dataset!r}; catalog {self.name!r} has {', '.join(self.datasets)}")
        return found

    def prompt(self, task: TaskSpec) -> np.ndarray:
        """The one-hot prompt vector (float32) for a task: position, task, type, nature."""
        layout = dict(self.prompt_layout)
        parts = []
        for field, index in (("position", task.position), ("task", TASK_INDEX[task.kind]),
                             ("type", TYPE_WHOLE), ("nature", task.nature)):
            one_hot = np.zeros(layout[field], dtype=np.float32)
            one_hot[index] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)


@lru_cache(maxsize=8)
def load_catalog(name: str = "uusic25") -> TaskCatalog:
    path = CATALOG_DIR / f"{name}.toml"
    if not path.is_file():
        valid = ", ".join(sorted(p.stem for p in CATALOG_DIR.glob("*.toml")))
        raise SpecError(f"unknown task catalog {name!r}; valid: {valid}")
    try:
        return TaskCatalog.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise SpecError(f"{path}: {exc.errors()[0]['msg']}") from None
