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


def test_the_plans_table_says_inconclusive_and_what_an_int8_plan_ran_as():
    """A passing plan with a gate that could not decide is 'pass (1 inconclusive)', not 'pass'; an INT8 plan whose
    non-quantized parts run in f32 ran as 'int8 + f32 islands', not 'f32'; no raw Python True/False."""
    from edgeus.contracts.plans import plan_named
    from edgeus.contracts.profiles import Backend, load_profile
    from edgeus.pipeline.context import PlanRun, PlanState
    from edgeus.pipeline.verdicts import Verdict
    from edgeus.report.render import plan_blocks, to_markdown

    profile = load_profile("cpu-x86-scanner")
    run = PlanRun(plan_named(Backend.openvino, "int8"), profile, size_mb=1.0, state=PlanState.passed)
    run.timing = {"median_ms": 10.0, "p95_ms": 11.0, "actual_precision": "f32"}
    run.verdicts = [Verdict("Liver AUC drop", 0.083, 0.04, "", None, "CI spans", "inconclusive", [-0.1, 0.3])]
    row = run.row()
    assert row["inconclusive"] == 1 and row["ran_as"] == "int8 + f32 islands"
    search = {"float_blocks": [], "blocks": ["/a"], "islands": "f32", "search_images": 4, "within": True, "steps": []}
    plans = {"chosen": "int8", "timing": "t", "confirm_images": {"internal": 6}, "search_images": 4,
             "plans": [{**row, "state": "chosen"}], "scope_search": search}
    text = to_markdown(plan_blocks(plans, {"budgets": {}}))
    assert "chosen (1 inconclusive)" in text and "int8 + f32 islands" in text
    assert "threshold: yes" in text and "True" not in text
