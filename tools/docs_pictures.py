"""Regenerate the documentation's pictures from a current build, so they cannot go stale.

    python tools/docs_pictures.py [--out DIR] [--reuse]

Builds the embedded default for cpu-x86-scanner and cpu-arm-handheld into ``--out`` (default: a temporary
folder; ``--reuse`` keeps bundles already there), then writes
* ``docs/report-screenshot.png``: the x86 bundle's report.html rendered by headless Chromium;
* ``docs/compare-cpu/``: ``edgeus compare`` of the two bundles (table, CSV, JSON, Pareto plot).
Needs Chromium (``apt-get install chromium``) for the screenshot; says so and stops without it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
TARGETS = ("cpu-x86-scanner", "cpu-arm-handheld")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("docs_pictures: headless Chromium is needed for the report screenshot: apt-get install chromium")


def build(target: str, out: Path, reuse: bool) -> Path:
    existing = list(out.glob(f"*-{target}-*/manifest.json"))
    if reuse and existing:
        return existing[0].parent
    subprocess.run([sys.executable, "-m", "edgeus", "build", "--target", target, "-o", str(out), "--force"],
                   check=False)  # exit 2 (a gate blocked) still writes the bundle, and the picture shows it
    return next(out.glob(f"*-{target}-*/manifest.json")).parent


def screenshot(bundle: Path, png: Path) -> None:
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--hide-scrollbars", f"--screenshot={png}", "--window-size=1280,2600",
                    (bundle / "report.html").resolve().as_uri()], check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the bundles are built (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="use bundles already in --out instead of rebuilding")
    args = parser.parse_args()
    chromium()  # fail before a long build when the screenshot cannot be taken
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        bundles = [build(t, out, args.reuse) for t in TARGETS]
        screenshot(bundles[0], DOCS / "report-screenshot.png")
        subprocess.run([sys.executable, "-m", "edgeus", "compare", *map(str, bundles), "-o", str(DOCS / "compare-cpu"),
                        "--force"], check=True)
    print(f"wrote {DOCS / 'report-screenshot.png'} and {DOCS / 'compare-cpu'}")


if __name__ == "__main__":
    main()
