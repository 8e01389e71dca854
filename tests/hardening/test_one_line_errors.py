"""Every user mistake and environment fault is one line, a non-zero exit, and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from PIL import Image

from edgeus.data.layout import RECORDS_FILE


@pytest.fixture(scope="module")
def toy_onnx(tmp_path_factory):
    """A model that takes 32x32 images: the wrong shape for the uniusnet spec's 224x224."""
    from toymodels import SPEC_TOML

    folder = tmp_path_factory.mktemp("toy")
    spec = folder / "toy.spec.toml"
    spec.write_text(SPEC_TOML)
    from edgeus.cli import main

    assert main(["export", "--model", "toymodels:prompted_net", "--spec", str(spec), "-o", str(folder / "toy.onnx")]) == 0
    return folder / "toy.onnx"


@pytest.fixture
def kidney(small_phantom) -> Path:
    return next((small_phantom / "val/segmentation/Kidney/imgs").iterdir())


def test_wrong_input_shapes_in_profile_and_validate(toy_onnx, small_phantom, run_cli):
    code, _, err = run_cli("profile", toy_onnx, "--target", "cpu-arm-handheld", "--data", small_phantom,
                           "--min-iters", "2", "--min-duration", "0")
    assert_one_line_error(code, err, "ONNX Runtime rejected the inputs", "image 1x3x224x224")
    code, _, err = run_cli("validate", "--reference", "uniusnet-small", "--candidate", toy_onnx,
                           "--target", "cpu-x86-scanner", "--data", small_phantom)
    assert_one_line_error(code, err, "rejected the inputs")


def test_a_text_file_as_checkpoint(tmp_path, run_cli):
    text = tmp_path / "weights.pt"
    text.write_text("these are not weights\n")
    code, _, err = run_cli("export", "--model", "uniusnet-small", "--checkpoint", text, "-o", tmp_path / "m.onnx")
    assert_one_line_error(code, err, "weights.pt", "not a torch state dict")
    assert not (tmp_path / "m.onnx").exists()


def test_a_decompression_bomb(tmp_path, x86_bundle, run_cli):
    bomb = tmp_path / "huge.png"
    Image.new("1", (15000, 15000)).save(bomb)  # 225 Mpixels, a few KiB on disk
    code, _, err = run_cli("run", x86_bundle, bomb, "--dataset", "Kidney", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, "huge.png", "too large to decode safely")
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("where", ["/proc/edgeus-mask.png", "{file}/mask.png", "{tmp}/mask"])
def test_run_outputs_that_cannot_be_written(where, x86_bundle, kidney, tmp_path, run_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    target = where.format(file=blocker, tmp=tmp_path)
    code, _, err = run_cli("run", x86_bundle, kidney, "--dataset", "Kidney", "-o", target)
    assert_one_line_error(code, err)
    assert not list(tmp_path.glob(".*.tmp")) and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("command", ["build", "uusic25", "verify-json", "compare", "pack", "unpack", "keygen"])
def test_file_where_a_folder_is_expected_and_proc(command, x86_bundle, small_phantom, tmp_path, run_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    val = small_phantom / "val"
    for out in (blocker / "sub", Path("/proc/edgeus-test/out")):
        args = {"build": ["build", "--target", "cpu-x86-scanner", "--data", small_phantom, "-o", out],
                "uusic25": ["uusic25", "predict", x86_bundle, "--input-json", val / RECORDS_FILE, "--input-dir", val,
                            "--output", out],
                "verify-json": ["verify", x86_bundle, "--json", out / "v.json"],
                "compare": ["compare", x86_bundle, "-o", out],
                "pack": ["pack", x86_bundle, "-o", out / "b.tar.gz"],
                "unpack": ["unpack", blocker, "-o", out],
                "keygen": ["keygen", out / "k"]}[command]
        code, _, err = run_cli(*args)
        assert_one_line_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_score_entry_without_probability(tmp_path, small_phantom, run_cli):
    val = small_phantom / "val"
    records = json.loads((val / RECORDS_FILE).read_text())
    cls = [r for r in records if r["task"] == "classification"]
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "classification.json").write_text(json.dumps({r["img_path_relative"]: {"prediction": 0} for r in cls}))
    code, _, err = run_cli("uusic25", "score", "--pred", pred, "--truth", val)
    assert_one_line_error(code, err)


def test_verbose_shows_the_traceback(tmp_path):
    text = tmp_path / "weights.pt"
    text.write_text("nope\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    quiet = subprocess.run([sys.executable, "-m", "edgeus", "export", "--checkpoint", str(text), "-o",
                            str(tmp_path / "m.onnx")], capture_output=True, text=True, env=env)
    loud = subprocess.run([sys.executable, "-m", "edgeus", "-v", "export", "--checkpoint", str(text), "-o",
                           str(tmp_path / "m.onnx")], capture_output=True, text=True, env=env)
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip().splitlines()[-1]


# --- disk full: a 1 MiB tmpfs where the machine lets us mount one --------------------------------------------
def _mount_tmpfs(path: Path, size: str) -> str | None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                            text=True)
    return None if result.returncode == 0 else f"cannot mount a tmpfs here: {result.stderr.strip()[:120]}"


@pytest.fixture
def full_disk(tmp_path):
    small = tmp_path / "small"
    why = _mount_tmpfs(small, "1m")
    if why:
        pytest.skip(why)
    filler = small / "filler"
    try:
        with open(filler, "wb") as fh:  # fill it to the last block
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    yield small
    subprocess.run(["umount", str(small)], check=False)


def _nothing_half_written(folder: Path) -> bool:
    names = sorted(p.name for p in folder.iterdir())
    return names == ["filler"]


def test_disk_full_in_pack_unpack_predict_run_and_verify_json(full_disk, x86_bundle, small_phantom, kidney, tmp_path,
                                                              run_cli):
    val = small_phantom / "val"
    archive = tmp_path / "bundle.tar.gz"
    assert run_cli("pack", x86_bundle, "-o", archive)[0] == 0
    cases = {
        "pack": ["pack", x86_bundle, "-o", full_disk / "b.tar.gz"],
        "unpack": ["unpack", archive, "-o", full_disk],
        "predict": ["uusic25", "predict", x86_bundle, "--input-json", val / RECORDS_FILE, "--input-dir", val,
                    "--output", full_disk / "out"],
        "run": ["run", x86_bundle, kidney, "--dataset", "Kidney", "-o", full_disk / "mask.png"],
    }
    for name, args in cases.items():
        code, _, err = run_cli(*args)
        assert_one_line_error(code, err, "no space left")
        assert _nothing_half_written(full_disk), (name, sorted(p.name for p in full_disk.iterdir()))
    code, _, err = run_cli("verify", x86_bundle, "--json", full_disk / "verify.json")
    assert_one_line_error(code, err, "no space left")
    assert _nothing_half_written(full_disk)
