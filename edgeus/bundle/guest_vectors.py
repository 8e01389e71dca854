"""Inside the emulated userland: a bundle's conformance vectors through edgeus's own runtime. Imports numpy,
the bundle's backend and edgeus's torch-free modules only, which is all the userland has (bundle/emulator.py).

    python -m edgeus.bundle.guest_vectors check  BUNDLE ENGINE_JSON THREADS          -> checks, one JSON line
    python -m edgeus.bundle.guest_vectors record BUNDLE ENGINE_JSON THREADS OUT.npz  -> this core's outputs
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from edgeus.backends.factory import open_model
from edgeus.bundle.conformance import check_vectors, load_vectors


def main(argv: list[str]) -> int:
    mode, bundle, engine, threads = argv[0], Path(argv[1]), json.loads(argv[2]), int(argv[3])
    out: dict = {"machine": platform.machine(), "python": platform.python_version(),
                 "runtime": {**_runtime(engine["backend"]), "numpy": metadata.version("numpy")}}
    with open_model(bundle / engine["model"], engine["backend"], engine.get("settings", {}), threads=threads,
                    name=f"emulated:{bundle.name}") as runner:
        if mode == "check":
            out["checks"] = [c.to_dict() for c in check_vectors(bundle, runner)]
        else:
            index, arrays = load_vectors(bundle)
            outputs = {}
            for i, row in enumerate(index["tasks"]):
                feeds = {name: arrays[key] for name, key in row["inputs"].items()}
                outputs[str(i)] = runner.infer(feeds)[row["output"]][0]
            np.savez(argv[4], **outputs)
            out["recorded"] = len(outputs)
    print(json.dumps(out))
    return 0


def _runtime(backend: str) -> dict[str, str]:
    """The packages that run the bundle here, by version (an ExecuTorch bundle: whichever runtime is present)."""
    if backend == "executorch":
        from edgeus.backends.executorch.runner import available_runtime, runtime_versions

        return runtime_versions(available_runtime() or "executorch")
    return {backend: metadata.version(backend)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
