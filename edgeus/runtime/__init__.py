"""edgeus.runtime: run an edgeus bundle on the device with numpy, Pillow and the bundle's backend only.

    from edgeus.runtime import load
    with load("dist/uniusnet-small-cpu-x86-scanner-int8") as bundle:
        mask = bundle.predict("scan.png", "Breast", "segmentation")     # uint8 {0,255}, original size
        probs = bundle.predict("scan.png", "Breast", "classification")  # softmax probabilities

Layer 5 (the vendor side): may import backends, contracts, util, errors — never torch, NNCF or build tools.
"""

from edgeus.runtime.bundle import Bundle, Task, load
from edgeus.runtime.manifest import BundleError, read_manifest

__all__ = ["Bundle", "BundleError", "Task", "load", "read_manifest"]
