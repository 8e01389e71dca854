"""The profile stage measures the runtime, not the build: a process without torch, with its own pid."""

from __future__ import annotations

import json
import os


def test_perf_json_is_measured_in_a_runtime_only_process(x86_bundle, arm_bundle):
    for bundle in (x86_bundle, arm_bundle):
        perf = json.loads((bundle / "perf.json").read_text())
        assert perf["process"]["build_side_modules"] == []  # no torch, NNCF, ONNX, SciPy ... in the measured process
        assert perf["process"]["pid"] != os.getpid()
        assert "psutil" in perf["memory_source"]
        # the figures are that process's own: far below a build process that holds torch (~800 MiB)
        assert 0 < perf["peak_rss_mb"] < 600
        piped = perf["pipelined"]
        assert piped["images"] >= 60 and piped["images_per_s"] > 0
        assert perf["projected_uusic25_s"] == 2479 / piped["images_per_s"]
