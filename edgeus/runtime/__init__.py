"""edgeus.runtime: run an edgeus bundle on the device with numpy, Pillow and the bundle's backend only.

    from edgeus.runtime import load
    with load("dist/uniusnet-small-cpu-x86-scanner-int8") as bundle:
        mask = bundle.predict("scan.png", "Breast", "segmentation")     # uint8 {0,255}, original size
        probs = bundle.predict("scan.png", "Breast", "classification")  # softmax probabilities
        for p in bundle.stream(frames, "Breast", "segmentation"):         # many frames, pipelined, in order
            show(p.key, p.value)

Layer 5 (the vendor side): may import backends, contracts, util, errors — never torch, NNCF or build tools.
"""

from edgeus.runtime.bundle import Bundle, load
from edgeus.runtime.manifest import BundleError, read_manifest
from edgeus.runtime.pipeline import PipelineOptions, Prediction, Record
from edgeus.runtime.predictor import Task

__all__ = ["Bundle", "BundleError", "PipelineOptions", "Prediction", "Record", "Task", "load", "read_manifest"]
