"""The public Python API in ``edgeus`` is lazy (importing edgeus loads no SDK) and resolves to the real things."""

from __future__ import annotations

import subprocess
import sys


def test_import_edgeus_loads_nothing_heavy():
    code = ("import sys, edgeus\n"
            "heavy = [m for m in ('torch', 'openvino', 'onnxruntime', 'nncf', 'onnx', 'scipy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(edgeus.load_profile) and 'torch' not in sys.modules\n"
            "print(sorted(edgeus.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("build", "export", "quantize", "compile", "validate", "profile", "load_profile", "load_model",
                 "runtime"):
        assert f"'{name}'" in result.stdout


def test_api_names_are_the_implementations():
    import edgeus
    from edgeus.pipeline.flow import build
    from edgeus.runtime import load
    from edgeus.stages.validate import validate

    assert edgeus.build is build and edgeus.validate is validate and edgeus.runtime.load is load
    assert edgeus.load_profile("cpu-x86-scanner").name == "cpu-x86-scanner"
