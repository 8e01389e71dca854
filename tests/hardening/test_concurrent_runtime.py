"""One loaded bundle used from several threads gives exactly the serial outputs, with no error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from edgeus.contracts.preprocess import read_image
from edgeus.runtime import load

THREADS = 4


@pytest.mark.parametrize(("fixture", "calls"), [
    ("x86_bundle", 100), ("arm_bundle", 50),
    pytest.param("x86_bundle", 1000, marks=pytest.mark.slow),  # the 4 x 1,000 (about 3 min on 2 cores)
])
def test_four_threads_predicting_at_once_equal_serial(fixture, calls, request, small_phantom):
    bundle_path = request.getfixturevalue(fixture)
    images = sorted((small_phantom / "val/segmentation").glob("*/imgs/*.png"))[:4]
    cases = [(read_image(p), p.parent.parent.name) for p in images]
    with load(bundle_path, threads=1) as bundle:
        serial = [bundle.predict(pixels, dataset, "segmentation") for pixels, dataset in cases]

        def worker(offset: int) -> list[int]:
            mismatches = []
            for i in range(calls):
                k = (i + offset) % len(cases)
                pixels, dataset = cases[k]
                if not np.array_equal(bundle.predict(pixels, dataset, "segmentation"), serial[k]):
                    mismatches.append(k)
            return mismatches

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(worker, range(THREADS)))  # an exception in any thread re-raises here
    assert [len(r) for r in results] == [0] * THREADS
