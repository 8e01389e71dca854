from __future__ import annotations

import json

import onnx
import pytest
from conftest import assert_one_line_error
from toymodels import FrozenBatchReshapeNet, FrozenBatchScaleNet, PromptedNet

from edgeus.contracts.spec import load_spec
from edgeus.errors import ExportError, OutputExistsError
from edgeus.models import LoadedModel
from edgeus.stages.export import export_onnx


def _loaded(module, spec_path):
    return LoadedModel(module, load_spec(spec_path), "toy", None, None)


def test_export_is_dynamic_and_parity_checked_at_two_batches(tmp_path, toy_spec):
    out = tmp_path / "toy.onnx"
    report = export_onnx(_loaded(PromptedNet(), toy_spec), out)
    model = onnx.load(str(out))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and not dims[0].dim_value
    assert {p["batch"] for p in report.parity} >= {1, 3}
    assert report.trace_batch not in {1, 3}
    assert {p["output"] for p in report.parity} == {"seg_logits", "cls2_logits", "cls4_logits"}
    assert all(p["ok"] for p in report.parity)
    assert report.nodes_after <= report.nodes_before


def test_frozen_batch_scale_is_caught_naming_output_and_batch(tmp_path, toy_spec):
    out = tmp_path / "frozen.onnx"
    with pytest.raises(ExportError) as info:
        export_onnx(_loaded(FrozenBatchScaleNet(), toy_spec), out)
    message = str(info.value)
    assert "cls2_logits" in message and "batch 1" in message and "max |diff|" in message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["toy.spec.toml"]  # no temporary leftovers either


def test_frozen_batch_reshape_is_caught(tmp_path, toy_spec):
    out = tmp_path / "frozen.onnx"
    with pytest.raises(ExportError, match="at batch 1"):
        export_onnx(_loaded(FrozenBatchReshapeNet(), toy_spec), out)
    assert not out.exists()


def test_existing_output_needs_force(tmp_path, toy_spec):
    out = tmp_path / "toy.onnx"
    out.write_text("keep me")
    with pytest.raises(OutputExistsError):
        export_onnx(_loaded(PromptedNet(), toy_spec), out)
    assert out.read_text() == "keep me"
    export_onnx(_loaded(PromptedNet(), toy_spec), out, force=True)
    assert onnx.load(str(out)).graph.node


def test_cli_export_factory_model(run_cli, tmp_path, toy_spec):
    out, report = tmp_path / "m.onnx", tmp_path / "r.json"
    code, stdout, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", toy_spec, "-o", out,
                                "--report", report)
    assert code == 0, err
    assert out.is_file() and json.loads(report.read_text())["parity"]
    assert "seg_logits" in stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--model", "uniusnet-tiny"], ["unknown model", "uniusnet-small"]),
        (["--model", "toymodels:prompted_net"], ["--spec"]),
        (["--model", "toymodels:nothing_here", "--spec", "SPEC"], ["no attribute"]),
        (["--model", "toymodels:not_a_module", "--spec", "SPEC"], ["not a torch.nn.Module"]),
        (["--model", "toymodels:frozen_batch_scale_net", "--spec", "SPEC"], ["cls2_logits", "batch"]),
        (["--model", "toymodels:prompted_net", "--spec", "SPEC", "--checkpoint", "MISSING"], ["does not exist"]),
    ],
    ids=["unknown-model", "factory-without-spec", "bad-attr", "not-module", "frozen-batch", "missing-ckpt"],
)
def test_cli_export_bad_input_is_one_line_and_writes_nothing(run_cli, tmp_path, toy_spec, args, needles):
    out = tmp_path / "out.onnx"
    args = [a.replace("SPEC", str(toy_spec)).replace("MISSING", str(tmp_path / "none.pt")) for a in args]
    code, _, err = run_cli("export", *args, "-o", out)
    assert_one_line_error(code, err, *needles)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.spec.toml"]


def test_cli_export_checkpoint_errors(run_cli, tmp_path, toy_spec):
    import torch

    sd = PromptedNet().state_dict()
    torch.save({k: v for k, v in sd.items() if k != "cls2.weight"}, tmp_path / "missing.pt")
    torch.save({**sd, "stray.bias": torch.zeros(2)}, tmp_path / "extra.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": sd, "x": Evil()}, tmp_path / "evil.pt")
    cases = {"missing.pt": "cls2.weight", "extra.pt": "stray.bias", "corrupt.pt": "corrupt", "evil.pt": "refused"}
    for name, needle in cases.items():
        out = tmp_path / f"{name}.onnx"
        code, stdout, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", toy_spec,
                                    "--checkpoint", tmp_path / name, "-o", out)
        assert_one_line_error(code, err, needle)
        assert "pwned" not in stdout
        assert not out.exists()


def test_cli_refuses_to_overwrite(run_cli, tmp_path, toy_spec):
    out = tmp_path / "m.onnx"
    out.write_text("precious")
    code, _, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", toy_spec, "-o", out)
    assert_one_line_error(code, err, "--force")
    assert out.read_text() == "precious"


class _Histogram(PromptedNet):
    def forward(self, image, prompt):
        import torch

        seg, cls2, cls4 = super().forward(image, prompt)
        return seg, cls2 + torch.histc(image, bins=4).sum(), cls4


def test_an_operator_the_exporter_lacks_is_named_in_one_line_without_its_graph_dump(tmp_path, toy_spec, capfd):
    with pytest.raises(ExportError) as info:
        export_onnx(_loaded(_Histogram(), toy_spec), tmp_path / "m.onnx")
    assert "aten::histc" in str(info.value) and "\n" not in str(info.value)
    out, err = capfd.readouterr()
    assert "Torch IR graph" not in out + err  # the exporter's dump went to the log, not the console
    assert not (tmp_path / "m.onnx").exists()
