"""docs/API.md's first example runs as written, in a fresh folder, in its own interpreter."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_the_api_page_example_runs(tmp_path):
    text = (REPO / "docs" / "API.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)[0]
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second, third = done.stdout.strip().splitlines()
    assert first.startswith("onnxruntime ") and (tmp_path / "model.onnx").is_file()
    assert second == "['train', 'val']"
    assert third == "compiled vs exported: pass"  # the same fp32 graph: every drop is 0
