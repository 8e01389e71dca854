"""report.md / report.html: the content a reviewer needs, pictures included, and an HTML page that stands alone."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest

from edgeus.report.render import REPORT_HTML, REPORT_MD


def test_markdown_report_sections_and_figures(x86_bundle):
    text = (x86_bundle / REPORT_MD).read_text()
    for heading in ("## Budget verdicts", "## Accuracy per task", "### internal split", "### external split",
                    "## Performance", "## Segmentation overlays", "## Provenance"):
        assert heading in text, heading
    figures = re.findall(r"!\[[^\]]*\]\((report/[^)]+)\)", text)
    assert {"report/drops-internal.png", "report/latency.png", "report/memory.png"} <= set(figures)
    assert sum(f.startswith("report/overlay-") for f in figures) == 6  # one per segmentation row
    for f in figures:
        assert (x86_bundle / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f
    # every task row with its metrics, CIs and drop
    assert text.count("| Breast_all/segmentation |") == 2 * 2  # DSC and NSD rows, internal and external
    assert "**inconclusive** otherwise" in text  # the three gate states are explained beside the verdicts
    assert re.search(r"\| Liver/classification \| 2 \| AUC \| [0-9.]+ \[[0-9.]+, [0-9.]+\]", text)


def test_html_is_self_contained(x86_bundle):
    html = (x86_bundle / REPORT_HTML).read_text()
    assert "<h2>Budget verdicts</h2>" in html
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) >= 9
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    # nothing is fetched from elsewhere: no external src/href, no scripts
    assert not re.search(r"(src|href)=['\"](?!data:)", html) and "<script" not in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium); "
                                             "docs/report-screenshot.png shows a rendering")
def test_html_renders_in_headless_chromium(x86_bundle, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'u'}",
                    f"--screenshot={shot}", "--window-size=1200,2400", (x86_bundle / REPORT_HTML).as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    histogram = pixels.histogram()
    assert pixels.size == (1200, 2400)
    assert max(histogram) < 0.97 * sum(histogram), "the page rendered blank"
