"""A loaded bundle: its backend session plus the bundle's own pre- and postprocessing.

Imports numpy, Pillow and the bundle's backend runtime only (onnxruntime, openvino or tensorrt), never torch,
NNCF or pydantic: this is what runs on the scanner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeus.contracts.feeds import feeds_by_role
from edgeus.contracts.preprocess import Preprocessing, mask_to_original, preprocess, read_image, softmax
from edgeus.runtime.manifest import BundleError, check_files, read_manifest
from edgeus.util.paths import inside

BACKEND_PACKAGES = {  # backend -> (module to import, pip extra that installs it)
    "onnxruntime": ("onnxruntime", "edgeus[onnxruntime]"),
    "openvino": ("openvino", "edgeus[openvino]"),
    "tensorrt": ("tensorrt", "edgeus[tensorrt] on the device (TensorRT ships with JetPack / the NVIDIA image)"),
}


@dataclass(frozen=True)
class Task:
    dataset: str
    kind: str
    classes: tuple[str, ...]
    output: str
    prompt: np.ndarray
    organs: tuple[str, ...] = ()  # lower-case organ names a test-set record may give (catalog organ, JSON organ)


def require_backend(backend: str, bundle: Path) -> None:
    """A clear error when the bundle's backend runtime is not importable here."""
    if backend not in BACKEND_PACKAGES:
        raise BundleError(f"{bundle}: unknown backend {backend!r} in the manifest; valid: {', '.join(BACKEND_PACKAGES)}")
    module, extra = BACKEND_PACKAGES[backend]
    try:
        __import__(module)
    except ImportError:
        raise BundleError(f"{bundle} runs on {backend}, which is not installed here: pip install '{extra}'") from None


def open_engine(bundle: Path, manifest: dict, threads: int | None = None, cache_dir: str | Path | None = None):
    """The Runner for the bundle's compiled model, configured as recorded at build time."""
    engine = manifest["engine"]
    backend = engine["backend"]
    if engine.get("status") != "ready":
        raise BundleError(f"{bundle}: the engine is pending (built on the device): run 'edgeus finalize {bundle}' "
                          "on the target first")
    require_backend(backend, bundle)
    model = inside(bundle, engine["model"], "manifest engine.model", BundleError)
    settings = engine.get("settings", {})
    threads = threads or settings.get("threads")
    if backend == "onnxruntime":
        from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(model, threads=threads, name=f"bundle:{bundle.name}")
    if backend == "openvino":
        from edgeus.backends.openvino.runner import OpenVINORunner

        return OpenVINORunner(model, threads=threads, streams=settings.get("streams", 1),
                              hint=settings.get("hint", "LATENCY"),
                              inference_precision=settings.get("inference_precision", "f32"), cache_dir=cache_dir,
                              name=f"bundle:{bundle.name}")
    from edgeus.backends.tensorrt.runner import TensorRTRunner

    return TensorRTRunner(model, name=f"bundle:{bundle.name}")


class Bundle:
    """``load(path).predict(image, dataset, task)``: the vendor-facing API of an edgeus bundle.

    Thread-safe: one loaded bundle may serve several threads at once and each call returns exactly what a
    serial call would. The OpenVINO runner keeps a pool of infer requests (one per concurrent caller),
    ONNX Runtime's ``InferenceSession.run`` is thread-safe by contract, and the TensorRT runner serialises calls
    on its one execution context with a lock. Pre- and postprocessing hold no shared state.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None, cache_dir: str | Path | None = None,
                 check_hashes: bool = True) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if check_hashes:
            problems = check_files(self.path, self.manifest)
            if problems:
                raise BundleError(f"{self.path}: bundle does not match its manifest: {'; '.join(problems[:3])}"
                                  " (run 'edgeus verify' for the full list)")
        self.preprocessing = Preprocessing.from_dict(self.manifest["preprocessing"])
        self.mask_mapping = self.manifest["postprocessing"]["mask_mapping"]
        self.inputs = self.manifest["io"]["inputs"]
        self.tasks = [Task(t["dataset"], t["kind"], tuple(t["classes"]), t["output"],
                           np.asarray(t["prompt"], dtype=np.float32),
                           tuple(str(t[k]).lower() for k in ("organ", "json_organ") if t.get(k)))
                      for t in self.manifest["tasks"]]
        self.runner = open_engine(self.path, self.manifest, threads, cache_dir)
        self.runner.activate()

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        raise BundleError(f"the bundle has no task {dataset}/{kind}{hint}; valid: {valid}")

    def knows_dataset(self, dataset: str) -> bool:
        return any(t.dataset == dataset for t in self.tasks)

    def feeds(self, tensor: np.ndarray, task: Task) -> dict[str, np.ndarray]:
        """Model inputs for a batch of preprocessed images (N x 3 x S x S) and one task."""
        return feeds_by_role([(i["name"], i["role"]) for i in self.inputs], tensor, task.prompt, BundleError)

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.runner.infer(feeds)

    # --- the one call a vendor needs ---------------------------------------------------------------
    def predict(self, image, dataset: str, task: str = "segmentation", organ: str | None = None) -> np.ndarray:
        """A path, encoded bytes or a uint8 H x W x 3 array -> the mask (uint8 {0,255}, original H x W) for a
        segmentation task, or the class probabilities (float64) for a classification task. ``organ`` resolves
        a dataset name the bundle does not know (see ``task``)."""
        spec = self.task(dataset, task, organ)
        pixels = image if isinstance(image, np.ndarray) else read_image(image)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        if pixels.dtype != np.uint8:
            raise BundleError(f"expected a uint8 image array, got {pixels.dtype}")
        tensor = preprocess(pixels, self.preprocessing)[None]
        value = self.infer(self.feeds(tensor, spec))[spec.output][0]
        if not np.all(np.isfinite(value)):
            raise BundleError(f"the model produced non-finite {spec.output} for this image")
        if spec.kind == "segmentation":
            h, w = pixels.shape[:2]
            return mask_to_original(value, w, h, self.mask_mapping, self.preprocessing)
        return softmax(value.astype(np.float64))


def load(path: str | Path, **kwargs) -> Bundle:
    return Bundle(path, **kwargs)
