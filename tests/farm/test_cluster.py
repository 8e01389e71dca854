"""A farm address where no Ray head listens: one line at once, from every command that joins the farm."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import assert_one_line_error
from farm_cluster import SCANNER


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:  # a port the kernel just handed out and nobody listens on any more
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [
    ["farm", "status", "--address", "127.0.0.1:{port}"],
    ["farm", "status", "--address", "ray://127.0.0.1:{port}"],
    ["farm", "agent", "--address", "127.0.0.1:{port}", "--profile", "cpu-x86-scanner"],
    ["build", "--target", "cpu-x86-scanner", "--farm", "127.0.0.1:{port}", "-o", "{tmp}/out"],
])
def test_no_head_at_the_address_is_one_line(command, closed_port, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("EDGEUS_FARM_IDENTITY", json.dumps(SCANNER))  # the agent's identity check passes first
    code, _, err = run_cli(*[part.format(port=closed_port, tmp=tmp_path) for part in command])
    assert_one_line_error(code, err, "cannot reach the farm's Ray head at", f"127.0.0.1:{closed_port}",
                          "Connection refused")
    assert not (tmp_path / "out").exists()
