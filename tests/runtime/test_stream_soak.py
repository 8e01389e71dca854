"""A long stream through one loaded bundle: memory flat, every output equal to serial prediction."""

from __future__ import annotations

import numpy as np
import pytest

from edgeus.data.phantom_cine import cine_frames
from edgeus.runtime import load
from edgeus.util.memory import rss_mb


@pytest.mark.parametrize("frames", [800, pytest.param(10_000, marks=pytest.mark.slow)])  # 10,000: ~3-4 min
def test_streamed_frames_keep_memory_flat_and_equal_serial(frames, x86_bundle):
    loop = cine_frames(n_frames=16, seed=4)  # grayscale frames: the stream replicates them to RGB itself
    with load(x86_bundle, threads=2, streams="throughput") as bundle:
        serial = [bundle.predict(f, "Breast", "segmentation") for f in loop]
        samples, mismatches, seen = [], 0, 0
        every = max(100, frames // 40)
        for p in bundle.stream((loop[n % len(loop)] for n in range(frames)), "Breast", "segmentation"):
            assert p.key == seen  # in order, none lost
            seen += 1
            mismatches += int(not np.array_equal(p.value, serial[p.key % len(loop)]))
            if p.key % every == 0:
                samples.append((p.key, rss_mb()))
    assert seen == frames and mismatches == 0
    xs, ys = np.array(samples).T
    steady = xs >= frames * 0.3  # allocator pools and the engine's caches fill during the first frames
    slope = np.polyfit(xs[steady], ys[steady], 1)[0] * 1000
    print(f"{frames} frames: RSS {ys[0]:.0f} -> {ys[-1]:.0f} MiB, slope {slope:.3f} MiB per 1,000 frames")
    assert slope < 1.0
