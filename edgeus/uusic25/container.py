"""What the challenge's container does with a record, rule by rule, for the contract path (``uusic25
predict``): the baseline's ``Model.predict_segmentation_and_classification`` (uusic2025/challenge,
``baseline/model.py``) and its ``CenterCropGenerator`` (``baseline/datasets/dataset.py``).

Where the vendor runtime deliberately differs, it says so here, in the README and in every manifest
(``postprocessing.differs_from_uusic25_container``, contracts/preprocess.RUNTIME_VS_CONTAINER):

- **Decode**: the container calls PIL ``Image.open(path).convert('RGB')``, which clips 16-bit grey at 255 (a
  12-bit scan of grey 300 becomes white); the runtime scales 16-bit by 255/65535 (contracts/preprocess.to_rgb8)
  so a 16-bit export of an 8-bit image comes back exactly.
- **Resize**: ``scipy.ndimage.zoom(order=1)`` samples output pixel i at i * ((n - 1) / (out - 1)); for about 5 %
  of lengths (480 and 512 among them) the last sample lands a rounding beyond n - 1 and scipy's ``constant``
  mode returns 0 there: the last row (or column) of the 224 x 224 input is black. The container feeds the model
  that; the runtime interpolates the true edge.
- **Prompt**: position and nature come from the record's ``organ`` (unknown organs: position ``indis``, nature
  ``organ``), the task prompt from ``task``; the classification head from ``dataset_name`` (``Breast_luminal``:
  the 4-class head, anything else the 2-class one). The runtime picks a catalog row by dataset name and refuses
  a record it cannot place. Records whose organ the container does not know, or whose dataset and organ name
  different rows, are listed by ``uusic25 predict``.
- **Masks**: ``cv2.resize(INTER_NEAREST)`` to the original size: the ``stretch`` mapping
  (contracts/preprocess.py, OpenCV's own index formula); bundles ship ``uncrop``, the geometrically right one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgeus.contracts.preprocess import Preprocessing, preprocess
from edgeus.contracts.tasks import TASK_INDEX, TYPE_WHOLE, TaskCatalog, load_catalog
from edgeus.errors import DataError
from edgeus.runtime.predictor import Task, as_pixels

UNKNOWN_POSITION, UNKNOWN_NATURE = "indis", "organ"  # the container's fallbacks for an organ it does not map
FOUR_CLASS_DATASET = "Breast_luminal"                 # the one dataset name the container sends to the 4-class head


def decode_like_the_container(image, error: type[Exception] = DataError) -> np.ndarray:
    """``Image.open(image).convert('RGB')`` as uint8 H x W x 3 (16-bit grey clipped at 255, as Pillow does);
    an array is taken as already decoded."""
    if isinstance(image, np.ndarray):
        return as_pixels(image, error)
    label = "<bytes>" if isinstance(image, bytes) else str(image)
    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise error(f"{label}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise error(f"{label}: cannot decode image ({exc.__class__.__name__})") from None


def zoom_blackens_last(n_in: int, n_out: int) -> bool:
    """Whether ``scipy.ndimage.zoom(order=1)`` (mode 'constant', grid_mode False) returns 0 for the last of
    ``n_out`` samples along an axis of ``n_in``: its step is (n_in - 1) / (n_out - 1) in double and the last
    coordinate, (n_out - 1) times that, can exceed n_in - 1 by a rounding (checked against scipy 1.17 on every
    length 2-4000: 201 of them, 5 %)."""
    if n_out < 2 or n_in < 2:
        return False
    return (n_out - 1) * ((n_in - 1) / (n_out - 1)) > n_in - 1


def container_input(pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The model input the container's CenterCropGenerator makes: edgeus's preprocessing (equal to the zoom and
    crop everywhere else) with the last row or column black where scipy's zoom leaves it so."""
    tensor = preprocess(pixels, spec)
    h, w = pixels.shape[:2]
    factor = spec.size / min(h, w)
    for n, axis in ((h, 0), (w, 1)):
        out = int(round(n * factor))
        start = out // 2 - spec.size // 2
        if start + spec.size == out and zoom_blackens_last(n, out):  # the crop reaches the zoomed edge
            index = [slice(None)] * 2
            index[axis] = spec.size - 1
            if spec.layout == "NCHW":
                tensor[(slice(None), *index)] = 0.0
            else:
                tensor[(*index, slice(None))] = 0.0
    return tensor


@dataclass
class ContainerConventions:
    """The Predictor's conventions (runtime/predictor.py) as the challenge's container has them."""

    catalog: TaskCatalog = field(default_factory=load_catalog)
    name: str = "uusic25 container"
    _tasks: dict = field(default_factory=dict)

    def organ_prompt_parts(self, organ: str | None) -> tuple[int, int, bool]:
        """(position index, nature index, whether the container knows the organ): its maps are keyed by the
        organ as the records spell it (the catalog's ``json_organ``), case-sensitively."""
        for t in self.catalog.tasks:
            if organ == t.json_organ:
                return t.position, t.nature, True
        return self.catalog.positions.index(UNKNOWN_POSITION), self.catalog.natures.index(UNKNOWN_NATURE), False

    def prompt(self, kind: str, organ: str | None) -> np.ndarray:
        position, nature, _ = self.organ_prompt_parts(organ)
        layout = dict(self.catalog.prompt_layout)
        parts = []
        for part, index in (("position", position), ("task", TASK_INDEX[kind]), ("type", TYPE_WHOLE),
                            ("nature", nature)):
            one_hot = np.zeros(layout[part], dtype=np.float32)
            one_hot[index] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)

    def task(self, predictor, dataset: str, kind: str, organ: str | None) -> Task:
        """The head by dataset name (4-class for Breast_luminal only), the prompt by organ; one Task object per
        (head, prompt), so the pipeline batches records that run alike."""
        if kind not in TASK_INDEX:
            raise predictor.error(f"task {kind!r}: 'segmentation' or 'classification'")
        classes = 4 if kind == "classification" and dataset == FOUR_CLASS_DATASET else 2
        head = next((t for t in predictor.tasks if t.kind == kind and len(t.classes) == classes), None)
        if head is None:
            raise predictor.error(f"the bundle has no {classes}-class {kind} output")
        prompt = self.prompt(kind, organ)
        key = (head.output, prompt.tobytes())
        if key not in self._tasks:
            self._tasks[key] = Task(dataset, kind, head.classes, head.output, prompt)
        return self._tasks[key]

    def pixels(self, image, error: type[Exception]) -> np.ndarray:
        return decode_like_the_container(image, error)

    def tensor(self, pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
        return container_input(pixels, spec)

    def odd(self, dataset: str, kind: str, organ: str | None) -> str | None:
        """Why a record runs differently here than a catalog lookup by dataset would, or None."""
        _, _, known = self.organ_prompt_parts(organ)
        if not known:
            return f"organ {organ!r} unknown to the container: generic prompt ({UNKNOWN_POSITION}, {UNKNOWN_NATURE})"
        rows = [t for t in self.catalog.tasks if t.dataset == dataset and t.kind == kind]
        if rows and rows[0].json_organ != organ:
            return f"dataset {dataset} is a {rows[0].json_organ} task, organ {organ!r}: prompted as {organ}"
        return None

