"""Dockerfile.jetson, linted by the rules that matter for it (hadolint's where they apply; no Docker engine here).

Uses hadolint itself when it is installed; otherwise checks the same rules directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import REPO

DOCKERFILE = REPO / "Dockerfile.jetson"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_base_image_is_jetpack_6_and_pinned():
    instructions = _instructions()
    args = {a.split("=")[0]: a.split("=")[1] for i, a in instructions if i == "ARG" and "=" in a}
    base = next(a for i, a in instructions if i == "FROM")
    resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert resolved.startswith("nvcr.io/nvidia/l4t-jetpack:r36."), resolved  # JetPack 6 = L4T 36
    assert not resolved.endswith(":latest")  # DL3007


def test_tensorrt_comes_from_the_image_not_pip():
    runs = " ".join(a for i, a in _instructions() if i == "RUN")
    assert "python3-libnvinfer" in runs
    assert not re.search(r"pip[3]? install[^&]*\btensorrt\b", runs)
    assert "--system-site-packages" in runs
    assert "edgeus[tensorrt]" not in runs and "torch" not in runs
    assert '".[jetson]"' in runs and "import tensorrt" in runs


def test_hadolint_rules():
    instructions = _instructions()
    runs = [a for i, a in instructions if i == "RUN"]
    for run in runs:
        if "apt-get install" in run:
            assert "--no-install-recommends" in run and "-y" in run  # DL3015, DL3014
            assert "rm -rf /var/lib/apt/lists/*" in run  # DL3009
        if "pip install" in run:
            assert "--no-cache-dir" in run  # DL3042
        assert not re.search(r"(^|&&\s*)cd\s", run)  # DL3003: WORKDIR instead of cd
    assert any(i == "SHELL" and "pipefail" in a for i, a in instructions)  # DL4006
    assert [i for i, _ in instructions].count("ENTRYPOINT") == 1
    assert next(a for i, a in instructions if i == "ENTRYPOINT").startswith("[")  # exec form
    assert all(a.startswith("/") for i, a in instructions if i == "WORKDIR")  # DL3000: absolute WORKDIR
    assert not any(i == "ADD" for i, _ in instructions)  # DL3020
    assert not any(i == "MAINTAINER" for i, _ in instructions)  # DL4000


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed; the rules above were checked")
def test_hadolint_itself():
    result = subprocess.run(["hadolint", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists():
    for instruction, args in _instructions():
        if instruction == "COPY":
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), source
