"""A shipped bundle carries no machine paths: no file of it names the build folder, the data folder, a
temporary folder, the home folder, the source checkout or the Python installation."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO

# An image embedded in the HTML report is base64 text, whose alphabet holds '/', so a short path such as
# "/tmp" turns up in a few megabytes of it by chance (about one report in seven): such payloads carry
# pixels, never paths, and are left out of the search.
_BASE64_PAYLOAD = re.compile(rb"base64,[A-Za-z0-9+/=]+")


def _machine_paths(*roots: Path) -> set[str]:
    paths = {str(p.resolve()) for p in roots} | {str(p) for p in roots}
    paths |= {tempfile.gettempdir(), str(Path.home()), str(REPO), sys.prefix, str(Path.cwd())}
    return {p for p in paths if p not in ("/", "")}


def _searchable(data: bytes) -> tuple[bytes, bool]:
    """The bytes to search and whether they are text. Binary files (weights, arrays, pictures) are searched
    for a path followed by '/', as a leaked file name would be, since four arbitrary bytes such as "/tmp"
    occur in tens of megabytes of weights by chance."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data, False
    return _BASE64_PAYLOAD.sub(b"base64,", data), True


def test_the_search_ignores_embedded_pictures_but_not_paths():
    text, is_text = _searchable(b'<img src="data:image/png;base64,AAAA/tmpBBBB=="> saved to /tmp/build/x')
    assert is_text and b"/tmpBBBB" not in text and b"/tmp/build/x" in text


@pytest.mark.parametrize("fixture", ["x86_bundle", "arm_bundle", "jetson_bundle"])
def test_no_file_of_a_bundle_names_a_machine_path(fixture, request, small_phantom, bundles_root):
    bundle = request.getfixturevalue(fixture)
    forbidden = _machine_paths(bundles_root, small_phantom, bundle)
    files = [p for p in sorted(bundle.rglob("*")) if p.is_file()]
    assert len(files) > 10
    offenders = []
    for path in files:
        data, is_text = _searchable(path.read_bytes())
        for root in forbidden:
            needle = root.encode() if is_text else root.encode() + b"/"
            if needle in data:
                offenders.append(f"{path.relative_to(bundle)}: {root}")
    assert offenders == []
