"""A loaded bundle: its backend session plus the bundle's own pre- and postprocessing.

Imports numpy, Pillow and the bundle's backend runtime only (onnxruntime, openvino, tensorrt or executorch), never
torch, NNCF or pydantic: this is what runs on the scanner (ExecuTorch's Python runtime loads torch's libraries
itself: an ExecuTorch bundle runs here only where torch is installed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from edgeus.backends.base import throughput_streams
from edgeus.backends.factory import open_model
from edgeus.contracts.preprocess import Preprocessing
from edgeus.runtime.manifest import BundleError, check_files, read_manifest
from edgeus.runtime.pipeline import PipelineOptions, Prediction, Record, pipelined
from edgeus.runtime.predictor import Predictor, Task
from edgeus.runtime.signature import check_signature, trusted_keys
from edgeus.util.paths import inside

BACKEND_PACKAGES = {  # backend -> (modules to import, any one of them; pip extra that installs it)
    "onnxruntime": (("onnxruntime",), "edgeus[onnxruntime]"),
    "openvino": (("openvino",), "edgeus[openvino]"),
    "tensorrt": (("tensorrt",), "edgeus[tensorrt] on the device (TensorRT ships with JetPack / the NVIDIA image)"),
    # ExecuTorch's own Python runtime links torch's libraries; executorch-numpy-runtime runs a .pte without torch
    # (Python >= 3.12; backends/executorch/runner.py says what was checked). A phone app runs it with ExecuTorch's
    # C++/Java/Swift runtime (the bundle's model.io.json names its inputs and outputs)
    "executorch": (("executorch.runtime", "executorch_numpy_runtime"),
                   "edgeus[executorch] beside torch, or executorch-numpy-runtime without torch (Python >= 3.12)"),
    "coreml": (("coremltools",), "edgeus[coreml] on macOS (Core ML predicts only there; on iOS the app's Core ML)"),
}


def require_backend(backend: str, bundle: Path) -> None:
    """A clear error when the bundle's backend runtime is not importable here."""
    if backend not in BACKEND_PACKAGES:
        raise BundleError(f"{bundle}: unknown backend {backend!r} in the manifest; valid: {', '.join(BACKEND_PACKAGES)}")
    modules, extra = BACKEND_PACKAGES[backend]
    for module in modules:
        try:
            __import__(module)
            return
        except ImportError:
            continue
    raise BundleError(f"{bundle} runs on {backend}, which is not installed here: pip install '{extra}'")


def check_runnable(bundle: Path, manifest: dict) -> None:
    """A clear error when this bundle cannot run here: its engine is pending, or its backend is missing."""
    engine = manifest["engine"]
    if engine.get("status") != "ready" and engine.get("backend") == "coreml":
        raise BundleError(f"{bundle}: the Core ML package is pending (compiled and checked on a Mac): follow its "
                          "model/recipe.json there first")
    if engine.get("status") != "ready":
        raise BundleError(f"{bundle}: the engine is pending (built on the device): run 'edgeus finalize {bundle}' "
                          "on the target first")
    require_backend(engine["backend"], bundle)


def refuse_failed(bundle: Path, manifest: dict, allow_failed: bool) -> None:
    """A bundle whose budget gates blocked at build time is not run by accident: the build shipped it only as
    the closest candidate, marked failed. ``allow_failed`` runs it anyway (to study it)."""
    if manifest.get("passed") is not False or allow_failed:
        return
    raise BundleError(f"{bundle} is marked failed: {failed_gates(manifest)}; it was shipped as the closest candidate, "
                      "not for use (pass --allow-failed to run it anyway)")


def failed_gates(manifest: dict) -> str:
    """'its gates blocked: A (measured x vs budget y), B ...' from the manifest's verdicts."""
    failed = [v for v in manifest.get("verdicts", []) if isinstance(v, dict)
              and (v.get("state") == "fail" or (v.get("state") is None and v.get("passed") is False))]
    if not failed:
        return "its budget gates blocked (see report.md)"
    shown = []
    for v in failed[:3]:
        measured, budget = v.get("measured"), v.get("budget")
        shown.append(f"{v.get('item', '?')}" + (f" ({measured:.4g} vs budget {budget:.4g})"
                                                 if isinstance(measured, int | float) and isinstance(budget, int | float)
                                                 else ""))
    return f"its gates blocked: {', '.join(shown)}" + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")


def open_engine(bundle: Path, manifest: dict, threads: int | None = None, cache_dir: str | Path | None = None,
                streams: int | None = None):
    """The Runner for the bundle's compiled model, configured as recorded at build time; ``streams`` N > 1
    opens it as a throughput engine instead (N inferences at once; see backends/registry.open_runner)."""
    engine = manifest["engine"]
    backend = engine["backend"]
    check_runnable(bundle, manifest)
    model = inside(bundle, engine["model"], "manifest engine.model", BundleError)
    return open_model(model, backend, engine.get("settings", {}), threads=threads, streams=streams,
                      name=f"bundle:{bundle.name}", cache_dir=Path(cache_dir) if cache_dir else None)


class Bundle:
    """``load(path).predict(image, dataset, task)``: the vendor-facing API of an edgeus bundle.

    Thread-safe: one loaded bundle may serve several threads at once and each call returns exactly what a
    serial call would. The OpenVINO runner keeps a pool of infer requests (one per concurrent caller),
    ONNX Runtime's ``InferenceSession.run`` is thread-safe by contract, and the TensorRT runner serialises calls
    on its one execution context with a lock. Pre- and postprocessing hold no shared state.

    Many images: ``predict_many(records)`` and ``stream(frames, dataset, task)`` overlap decoding,
    preprocessing, inference and postprocessing (runtime/pipeline.py) and yield results in input order.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None, cache_dir: str | Path | None = None,
                 check_hashes: bool = True, streams: int | str | None = None, allow_failed: bool = False,
                 pubkey: str | Path | None = None, require_signature: bool = False) -> None:
        """``streams``: None runs the engine as built (the profile's latency settings: best per frame); N > 1
        opens it for throughput (N inferences at once: best for ``predict_many`` over a test set);
        "throughput" picks N for the threads (backends/base.throughput_streams). A bundle marked failed (its
        gates blocked at build time) is refused unless ``allow_failed``. ``pubkey`` (else the keys in
        EDGEUS_TRUSTED_KEYS): the bundle must carry a signature by that key over its manifest, checked before
        anything runs (runtime/signature.py); ``require_signature`` refuses a bundle without one."""
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            # 0 would read as "as built" and a negative fail inside the runtime's own property check
            raise BundleError(f"threads must be a positive whole number or None (as built), not {threads!r}")
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        refuse_failed(self.path, self.manifest, allow_failed)
        if check_hashes:
            problems = check_files(self.path, self.manifest)
            if problems:
                raise BundleError(f"{self.path}: bundle does not match its manifest: {'; '.join(problems[:3])}"
                                  " (run 'edgeus verify' for the full list)")
        self.signature = None  # a SignatureCheck where a key or a signature was asked for
        keys = trusted_keys([pubkey] if pubkey else None)
        if keys or require_signature:
            self.signature = check_signature(self.path, keys, require_signature)
        self.inputs = self.manifest["io"]["inputs"]
        tasks = [Task(t["dataset"], t["kind"], tuple(t["classes"]), t["output"], np.asarray(t["prompt"], dtype=np.float32),
                      tuple(str(t[k]).lower() for k in ("organ", "json_organ") if t.get(k)))
                 for t in self.manifest["tasks"]]
        if streams == "throughput":
            streams = throughput_streams(threads or self.manifest["engine"].get("settings", {}).get("threads"))
        if streams is not None and (not isinstance(streams, int) or streams < 1):
            raise BundleError(f"streams must be a positive number or 'throughput', not {streams!r}")
        self.streams = streams or 1
        self.runner = open_engine(self.path, self.manifest, threads, cache_dir, streams)
        self.runner.activate()
        self.predictor = Predictor(self.runner, Preprocessing.from_dict(self.manifest["preprocessing"]),
                                   [(i["name"], i["role"]) for i in self.inputs], tasks,
                                   self.manifest["postprocessing"]["mask_mapping"], BundleError)

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tasks and settings ----------------------------------------------------------------------
    @property
    def tasks(self) -> list[Task]:
        return self.predictor.tasks

    @property
    def preprocessing(self) -> Preprocessing:
        return self.predictor.preprocessing

    @property
    def mask_mapping(self) -> str:
        return self.predictor.mask_mapping

    @mask_mapping.setter
    def mask_mapping(self, mapping: str) -> None:
        self.predictor.mask_mapping = mapping

    def task(self, dataset: str, kind: str, organ: str | None = None) -> Task:
        """The task row for a dataset name; an unknown name is resolved from ``organ`` (see Predictor.task)."""
        return self.predictor.task(dataset, kind, organ)

    def knows_dataset(self, dataset: str) -> bool:
        return self.predictor.knows_dataset(dataset)

    def feeds(self, tensor: np.ndarray, task: Task) -> dict[str, np.ndarray]:
        """Model inputs for a batch of preprocessed images (N x 3 x S x S) and one task."""
        return self.predictor.feeds(tensor, task)

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.runner.infer(feeds)

    # --- predicting --------------------------------------------------------------------------------
    def predict(self, image, dataset: str, task: str = "segmentation", organ: str | None = None) -> np.ndarray:
        """A path, encoded bytes or a uint8 H x W (x 3) array -> the mask (uint8 {0,255}, original H x W) for a
        segmentation task, or the class probabilities (float64) for a classification task. ``organ`` resolves
        a dataset name the bundle does not know (see ``task``)."""
        return self.predictor.predict(image, dataset, task, organ)

    def predict_many(self, records: Iterable[Record], options: PipelineOptions | None = None,
                     **option_fields) -> Iterator[Prediction]:
        """Predictions for many records, pipelined, in input order (a generator: iterate it to run).
        ``option_fields`` are PipelineOptions fields (workers, depth, max_batch, errors)."""
        if options is None:  # one job in each stream, two more preparing and finishing
            option_fields.setdefault("workers", self.streams + 2)
            option_fields.setdefault("engine_slots", self.streams)
            options = PipelineOptions(**option_fields)
        return pipelined(self.predictor, records, options)

    def stream(self, frames: Iterable, dataset: str, task: str = "segmentation", organ: str | None = None,
               options: PipelineOptions | None = None, **option_fields) -> Iterator[Prediction]:
        """A stream of frames (arrays, paths or bytes) of one task -> predictions in frame order; each
        prediction's key is its frame index."""
        records = (Record(frame, dataset, task, organ, key=n) for n, frame in enumerate(frames))
        return self.predict_many(records, options, **option_fields)


def load(path: str | Path, **kwargs) -> Bundle:
    """Open a bundle for inference (no torch, no edgeus build code): its files checked against the manifest
    first, its signature too where a key is given or trusted (``pubkey=``, EDGEUS_TRUSTED_KEYS). Keywords are
    Bundle's (threads, streams, allow_failed, pubkey, require_signature, ...).

    Example::

        from edgeus.runtime import load
        with load("dist/uniusnet-small-cpu-x86-scanner-int8-auto") as bundle:
            mask = bundle.predict("scan.png", "Breast", "segmentation")     # uint8 {0, 255}, original size
            probs = bundle.predict("scan.png", "Breast", "classification")  # softmax probabilities
    """
    return Bundle(path, **kwargs)
