"""The pipelined predictor: same outputs as serial prediction, input order, bounded reads, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgeus.data.uusic25 import read_dataset
from edgeus.errors import DataError, EdgeusError
from edgeus.runtime import Record, load


def _records(small_phantom, per_task: int = 4) -> list[Record]:
    records = []
    for sample in read_dataset(small_phantom / "val").samples:
        if sum(r.dataset == sample.task.dataset and r.task == sample.task.kind for r in records) < per_task:
            records.append(Record(str(sample.image_path), sample.task.dataset, sample.task.kind, key=sample.id))
    return records


@pytest.mark.parametrize("fixture", ["x86_bundle", "arm_bundle"])  # OpenVINO and ONNX Runtime
def test_pipelined_equals_serial_in_input_order(fixture, request, small_phantom):
    records = _records(small_phantom)
    with load(request.getfixturevalue(fixture), threads=1) as bundle:
        serial = [bundle.predict(r.image, r.dataset, r.task) for r in records]
        piped = list(bundle.predict_many(records, workers=3, depth=4))
    assert [p.key for p in piped] == [r.key for r in records]
    assert all(p.error is None for p in piped)
    for want, got in zip(serial, piped, strict=True):
        assert np.array_equal(want, got.value)
    assert {k for p in piped for k in p.timings_ms} == {"prepare", "infer", "finish"}


def test_micro_batches_match_single_images(x86_bundle, small_phantom):
    records = _records(small_phantom)
    with load(x86_bundle, threads=1) as bundle:
        single = list(bundle.predict_many(records))
        batched = list(bundle.predict_many(records, max_batch=4))
    assert [p.key for p in batched] == [p.key for p in single]
    for a, b in zip(single, batched, strict=True):
        if a.record.task == "segmentation":  # a batch may round differently in the last float bit, never a label
            assert np.mean(a.value != b.value) < 1e-3
        else:
            np.testing.assert_allclose(a.value, b.value, atol=1e-5)


def test_input_is_read_lazily_so_memory_is_bounded(x86_bundle, small_phantom):
    frame = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    pulled = 0

    def frames():
        nonlocal pulled
        for _ in range(200):
            pulled += 1
            yield frame

    with load(x86_bundle, threads=1) as bundle:
        stream = bundle.stream(frames(), "Breast", "segmentation", depth=4, workers=2)
        first = next(stream)
        assert first.key == 0 and pulled <= 4 + 3  # depth queued, one being delivered, one being submitted, one read
        rest = list(stream)
    assert [p.key for p in rest] == list(range(1, 200))


def test_a_bad_record_raises_in_place_or_comes_back_marked(x86_bundle, small_phantom, tmp_path):
    records = _records(small_phantom, per_task=1)[:4]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    records.insert(2, Record(str(broken), "Breast", "segmentation", key="broken"))
    with load(x86_bundle, threads=1) as bundle:
        marked = list(bundle.predict_many(records, errors="return"))
        assert [p.key for p in marked] == [r.key for r in records]
        assert marked[2].value is None and "cannot decode image" in marked[2].error
        assert all(p.error is None for n, p in enumerate(marked) if n != 2)
        got = []
        with pytest.raises(DataError, match="cannot decode image"):
            for p in bundle.predict_many(records):
                got.append(p.key)
        assert got == [r.key for r in records[:2]]  # what came before the bad record was delivered


def test_a_grayscale_file_and_its_rgb_pixels_predict_the_same(arm_bundle, small_phantom):
    """Files decode as one gray channel (a third of the preprocessing); the outputs equal those of the
    three-channel pixels a caller may pass instead."""
    from edgeus.contracts.preprocess import read_image

    with load(arm_bundle, threads=1) as bundle:
        for r in _records(small_phantom, per_task=1):
            assert read_image(r.image, keep_gray=True).ndim == 2  # the phantom is 8-bit grayscale
            assert np.array_equal(bundle.predict(r.image, r.dataset, r.task),
                                  bundle.predict(read_image(r.image), r.dataset, r.task))


@pytest.mark.parametrize("threads", [0, -1, 2.5, True])
def test_load_refuses_a_thread_count_that_is_not_a_positive_whole_number(threads, x86_bundle):
    with pytest.raises(EdgeusError, match="threads must be a positive whole number"):
        load(x86_bundle, threads=threads)  # 0 ran "as built"; -1 failed inside OpenVINO's property check


def test_an_image_of_the_wrong_type_is_a_bundle_error(x86_bundle):
    with load(x86_bundle) as bundle:
        with pytest.raises(EdgeusError, match="expected an image path, encoded bytes or a uint8 array, got int"):
            bundle.predict(42, "Breast")  # was an AttributeError from Pillow
        wrong = list(bundle.predict_many([Record(42, "Breast")], errors="return"))
        assert "got int" in wrong[0].error
