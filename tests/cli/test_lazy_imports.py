"""edgeus --help, the profile commands and the preprocessing must work without the heavy SDKs."""

from __future__ import annotations

import subprocess
import sys

BLOCK = "import sys\nfor m in ('torch', 'openvino', 'nncf', 'tensorrt', 'onnx', 'onnxslim', 'safetensors', 'scipy', 'sklearn', 'skimage', 'matplotlib'):\n    sys.modules[m] = None\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120)


def test_help_and_profiles_without_heavy_packages():
    result = _run("from edgeus.cli import main\nraise SystemExit(main(['profiles', 'list']))")
    assert result.returncode == 0, result.stderr
    assert "cpu-x86-scanner" in result.stdout
    result = _run("from edgeus.cli import main\nmain(['--help'])")
    assert result.returncode == 0, result.stderr
    assert "export" in result.stdout


def test_every_subcommand_help_without_heavy_packages():
    code = (
        "from edgeus.cli import build_parser\n"
        "p = build_parser()\n"
        "sub = [a for a in p._actions if a.__class__.__name__ == '_SubParsersAction'][0]\n"
        "print(' '.join(sub.choices))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    for name in result.stdout.split():
        help_run = _run(f"from edgeus.cli import main\nmain([{name!r}, '--help'])")
        assert help_run.returncode == 0, (name, help_run.stderr)


def test_models_list_and_preprocessing_without_torch():
    code = (
        "import numpy as np\n"
        "from edgeus.models import list_models\n"
        "from edgeus.contracts.preprocess import preprocess\n"
        "assert {m.name for m in list_models()} >= {'uniusnet', 'uniusnet-small'}\n"
        "assert preprocess(np.zeros((300, 400, 3), np.uint8)).shape == (3, 224, 224)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_device_side_modules_import_without_torch_or_build_tools():
    """What runs on a Jetson (finalize, the TensorRT runner, verify, reports) must not need torch or NNCF."""
    code = (
        "import edgeus.pipeline.deferred, edgeus.backends.tensorrt.builder, edgeus.backends.tensorrt.runner, edgeus.bundle.verify\n"
        "import edgeus.bundle.conformance, edgeus.pipeline.flow, edgeus.stages.validate, edgeus.stages.profile, edgeus.models\n"
        "import edgeus.runtime, edgeus.uusic25.contract, edgeus.bundle.compare\n"
        "from edgeus.models import model_spec\n"
        "assert model_spec('uniusnet').name == 'uniusnet'\n"
    )
    block = "import sys\nfor m in ('torch', 'nncf', 'openvino', 'tensorrt', 'onnx', 'onnxslim', 'safetensors'):\n    sys.modules[m] = None\n"
    result = subprocess.run([sys.executable, "-c", block + code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
