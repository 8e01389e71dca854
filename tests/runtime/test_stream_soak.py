"""A long stream through one loaded bundle: memory flat, every output equal to serial prediction.

The stream runs in a process of its own, as a scanner's runtime would: the test process has held torch, NNCF
and a dozen bundles by the time this test runs, and its allocator's state (arenas fragmented by the tests
before, threads that came and went) moved the RSS of a short stream by a few MiB in one CI run and not in the
next. The slope belongs to the runtime, not to the test session.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import theilslopes

STREAM = """
import json, sys
import numpy as np
from edgeus.data.phantom_cine import cine_frames
from edgeus.runtime import load
from edgeus.util.memory import rss_mb

bundle_path, frames, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
loop = cine_frames(n_frames=16, seed=4)  # grayscale frames: the stream replicates them to RGB itself
samples, mismatches, seen, in_order = [], 0, 0, True
with load(bundle_path, threads=2, streams="throughput") as bundle:
    serial = [bundle.predict(f, "Breast", "segmentation") for f in loop]
    for p in bundle.stream((loop[n % len(loop)] for n in range(frames)), "Breast", "segmentation"):
        in_order &= p.key == seen  # in order, none lost
        seen += 1
        mismatches += int(not np.array_equal(p.value, serial[p.key % len(loop)]))
        if p.key % every == 0:
            samples.append((p.key, rss_mb()))
print(json.dumps({"seen": seen, "in_order": in_order, "mismatches": mismatches, "samples": samples}))
"""


@pytest.mark.parametrize("frames", [1_600, pytest.param(10_000, marks=pytest.mark.slow)])  # 10,000: ~3-4 min
def test_streamed_frames_keep_memory_flat_and_equal_serial(frames, x86_bundle):
    run = subprocess.run([sys.executable, "-c", STREAM, str(x86_bundle), str(frames), "50"], capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["seen"] == frames and result["in_order"] and result["mismatches"] == 0
    xs, ys = np.array(result["samples"]).T
    # Allocator pools and the engine's caches fill during the first frames: measure after them.
    steady = xs >= min(400, frames * 0.3)
    # A leak grows RSS at every step; an allocator arena that grows once is a single step. The Theil-Sen
    # slope (median of the pairwise slopes) follows the first and is not moved by one step, which a
    # least-squares fit over a short window turned into a false 9 MiB/1,000 frames on a busy machine.
    slope = theilslopes(ys[steady], xs[steady])[0] * 1000
    print(f"{frames} frames: RSS {ys[0]:.0f} -> {ys[-1]:.0f} MiB, slope {slope:.3f} MiB per 1,000 frames")
    assert slope < 1.0
