"""A long stream through one loaded bundle: memory flat, every output equal to serial prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import theilslopes

from edgeus.data.phantom_cine import cine_frames
from edgeus.runtime import load
from edgeus.util.memory import rss_mb


@pytest.mark.parametrize("frames", [1_600, pytest.param(10_000, marks=pytest.mark.slow)])  # 10,000: ~3-4 min
def test_streamed_frames_keep_memory_flat_and_equal_serial(frames, x86_bundle):
    loop = cine_frames(n_frames=16, seed=4)  # grayscale frames: the stream replicates them to RGB itself
    with load(x86_bundle, threads=2, streams="throughput") as bundle:
        serial = [bundle.predict(f, "Breast", "segmentation") for f in loop]
        samples, mismatches, seen = [], 0, 0
        every = 50
        for p in bundle.stream((loop[n % len(loop)] for n in range(frames)), "Breast", "segmentation"):
            assert p.key == seen  # in order, none lost
            seen += 1
            mismatches += int(not np.array_equal(p.value, serial[p.key % len(loop)]))
            if p.key % every == 0:
                samples.append((p.key, rss_mb()))
    assert seen == frames and mismatches == 0
    xs, ys = np.array(samples).T
    # Allocator pools and the engine's caches fill during the first frames: measure after them.
    steady = xs >= min(400, frames * 0.3)
    # A leak grows RSS at every step; an allocator arena that grows once is a single step. The Theil-Sen
    # slope (median of the pairwise slopes) follows the first and is not moved by one step, which a
    # least-squares fit over a short window turned into a false 9 MiB/1,000 frames on a busy machine.
    slope = theilslopes(ys[steady], xs[steady])[0] * 1000
    print(f"{frames} frames: RSS {ys[0]:.0f} -> {ys[-1]:.0f} MiB, slope {slope:.3f} MiB per 1,000 frames")
    assert slope < 1.0
