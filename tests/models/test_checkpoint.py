from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file
from toymodels import PromptedNet

from edgeus.errors import CheckpointError
from edgeus.models.checkpoint import load_checkpoint, read_state_dict


@pytest.fixture
def net():
    return PromptedNet()


@pytest.mark.parametrize("wrap", ["bare", "module", "model", "state_dict"])
def test_state_dict_wrappings_load(tmp_path, net, wrap):
    sd = net.state_dict()
    payload = {
        "bare": sd,
        "module": {f"module.{k}": v for k, v in sd.items()},
        "model": {"model": sd, "epoch": torch.tensor(3)},
        "state_dict": {"state_dict": sd},
    }[wrap]
    path = tmp_path / "ckpt.pt"
    torch.save(payload, path)
    other = PromptedNet(width=8)
    torch.nn.init.zeros_(other.stem.weight)
    sha = load_checkpoint(other, path)
    assert len(sha) == 64
    assert torch.equal(other.stem.weight, net.stem.weight)


def test_safetensors_loads(tmp_path, net):
    path = tmp_path / "w.safetensors"
    save_file(net.state_dict(), str(path))
    other = PromptedNet()
    load_checkpoint(other, path)
    assert torch.equal(other.cls4.weight, net.cls4.weight)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/edgeus-pwned",))


def test_pickle_with_code_is_refused_and_not_run(tmp_path, net):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": net.state_dict(), "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(path)
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(plain)
    import os

    assert not os.path.exists("/tmp/edgeus-pwned")


def test_missing_corrupt_and_mismatched_checkpoints(tmp_path, net):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        read_state_dict(corrupt)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError, match="corrupt"):
        read_state_dict(bad_st)

    sd = net.state_dict()
    missing = {k: v for k, v in sd.items() if k != "cls4.bias"}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="missing keys: cls4.bias"):
        load_checkpoint(PromptedNet(), tmp_path / "missing.pt")
    torch.save({**sd, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match="unexpected keys: extra.weight"):
        load_checkpoint(PromptedNet(), tmp_path / "extra.pt")
    torch.save({**sd, "cls4.weight": torch.zeros(5, 8)}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"cls4.weight has shape \(5, 8\)"):
        load_checkpoint(PromptedNet(), tmp_path / "shape.pt")
