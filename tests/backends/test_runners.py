from __future__ import annotations

import numpy as np
import pytest
from toymodels import PromptedNet

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.spec import load_spec
from edgeus.errors import BackendError
from edgeus.models import LoadedModel
from edgeus.stages.export import export_onnx


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from toymodels import SPEC_TOML

    d = tmp_path_factory.mktemp("toy")
    (d / "spec.toml").write_text(SPEC_TOML)
    spec = load_spec(d / "spec.toml")
    loaded = LoadedModel(PromptedNet(), spec, "toy", None, None)
    export_onnx(loaded, d / "toy.onnx")
    return loaded, d / "toy.onnx"


def test_torch_and_ort_runners_share_the_interface(toy):
    loaded, path = toy
    feeds = loaded.spec.example_feeds(2)
    with TorchRunner(loaded.module, loaded.spec) as ref, OnnxRuntimeRunner(path, threads=1) as ort:
        assert [m.name for m in ort.input_metadata()] == ["image", "prompt"]
        assert [m.name for m in ort.output_metadata()] == ["seg_logits", "cls2_logits", "cls4_logits"]
        assert ort.input_metadata()[0].dtype == "float32"
        assert [m.name for m in ref.input_metadata()] == [m.name for m in ort.input_metadata()]
        a, b = ref.infer(feeds), ort.infer(feeds)
        assert ort.load_time_s is not None and ort.last_inference_time_s > 0
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)
    assert not ort.is_active


def test_runner_refuses_use_outside_context_and_missing_inputs(toy):
    loaded, path = toy
    runner = OnnxRuntimeRunner(path)
    with pytest.raises(BackendError, match="not loaded"):
        runner.infer(loaded.spec.example_feeds(1))
    with runner, pytest.raises(BackendError, match="missing input"):
        runner.infer({"image": np.zeros((1, 3, 32, 32), np.float32)})


def test_corrupt_onnx_is_a_backend_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(BackendError, match="cannot load"), OnnxRuntimeRunner(bad):
        pass
