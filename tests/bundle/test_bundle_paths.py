"""A shipped bundle carries no machine paths: no file of it names the build folder, the data folder, a
temporary folder, the home folder, the source checkout or the Python installation."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO


def _machine_paths(*roots: Path) -> set[str]:
    paths = {str(p.resolve()) for p in roots} | {str(p) for p in roots}
    paths |= {tempfile.gettempdir(), str(Path.home()), str(REPO), sys.prefix, str(Path.cwd())}
    return {p for p in paths if p not in ("/", "")}


@pytest.mark.parametrize("fixture", ["x86_bundle", "arm_bundle", "jetson_bundle"])
def test_no_file_of_a_bundle_names_a_machine_path(fixture, request, small_phantom, bundles_root):
    bundle = request.getfixturevalue(fixture)
    forbidden = _machine_paths(bundles_root, small_phantom, bundle)
    files = [p for p in sorted(bundle.rglob("*")) if p.is_file()]
    assert len(files) > 10
    offenders = []
    for path in files:
        data = path.read_bytes()
        offenders += [f"{path.relative_to(bundle)}: {root}" for root in forbidden if root.encode() in data]
    assert offenders == []
