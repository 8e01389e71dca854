"""Numeric options out of range are one line before anything runs, on every command that has them."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error


@pytest.mark.parametrize(("args", "needle"), [
    (["--threads", "0"], "--threads must be at least 1, not 0"),  # 0 was read as "unset" and ran
    (["--threads", "-2"], "--threads must be at least 1, not -2"),  # was OpenVINO's "Wrong value -2 ..."
    (["--workers", "0"], "--workers must be at least 1"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--fps", "inf"], "--fps must be positive and finite, not inf"),  # ran, "5 dropped at inf fps"
    (["--fps", "nan"], "--fps must be positive and finite, not nan"),
])
def test_run_refuses_numbers_out_of_range_and_writes_nothing(args, needle, x86_bundle, tmp_path, run_cli):
    code, _, err = run_cli("run", x86_bundle, tmp_path / "any.dcm", "--dataset", "Breast", "-o", tmp_path / "out",
                           *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("command", "needle"), [
    (["data", "cine", "{tmp}/c.dcm", "--frames", "0"], "--frames must be at least 1"),
    (["data", "cine", "{tmp}/c.mkv", "--fps", "inf"], "--fps must be positive and finite"),
    (["data", "phantom", "{tmp}/ph", "--per-task", "-1"], "--per-task must be at least 1"),
    (["profile", "{tmp}/m.onnx", "--target", "cpu-x86-scanner", "--min-duration", "-1"],
     "--min-duration must be zero or more and finite"),
    (["unpack", "{tmp}/b.tar.gz", "-o", "{tmp}/u", "--max-size", "0"], "--max-size must be positive and finite"),
])
def test_other_commands_refuse_them_the_same_way(command, needle, tmp_path, run_cli):
    code, _, err = run_cli(*[part.format(tmp=tmp_path) for part in command])
    assert_one_line_error(code, err, needle)
    assert list(tmp_path.iterdir()) == []
