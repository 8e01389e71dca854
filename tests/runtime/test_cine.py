"""``edgeus run`` on a cine: DICOM multi-frame and video end to end, pacing and dropped frames, and bad input
that stops a run: one clear line, non-zero exit, the frames already written kept and listed."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from edgeus.data.phantom_cine import cine_frames, write_cine
from edgeus.runtime import load
from edgeus.runtime.cine import StreamSummary, _Pacer


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return cine_frames("Breast", "segmentation", n_frames=8, seed=1)


@pytest.mark.parametrize("fmt", ["dcm", "mkv"])
def test_a_dicom_multiframe_and_a_video_run_end_to_end(fmt, frames, x86_bundle, tmp_path, run_cli):
    cine = write_cine(frames, tmp_path / f"cine.{fmt}", fmt, fps=20)
    code, out, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "-o", tmp_path / "out", "--threads", "1")
    assert code == 0, err
    assert "8 frames ->" in out and "fps sustained" in out
    summary = json.loads((tmp_path / "out/stream.json").read_text())
    assert summary["complete"] and summary["frames_done"] == 8 and summary["kind"] in ("dicom", "video")
    with load(x86_bundle, threads=1) as bundle:  # every mask equals a serial predict of the same frame
        for n, frame in enumerate(frames):
            mask = np.asarray(Image.open(tmp_path / f"out/frame_{n:06d}.png"))
            assert np.array_equal(mask, bundle.predict(frame, "Breast", "segmentation"))


def test_classification_frames_go_to_one_jsonl(frames, x86_bundle, tmp_path, run_cli):
    cine = write_cine(frames[:4], tmp_path / "c.dcm", "dcm")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "--task", "classification",
                           "-o", tmp_path / "out", "--batch", "2")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "out/probabilities.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows] == [f"frame_{n:06d}" for n in range(4)]
    assert all(abs(sum(r["probability"]) - 1) < 1e-9 for r in rows)


def test_pacing_drops_the_frames_a_slow_consumer_cannot_take():
    summary = StreamSummary("mem", "test", "Breast", "segmentation")
    taken = []
    for n, arrival, _ in _Pacer(iter([np.zeros((2, 2, 3), np.uint8)] * 40), 200.0, summary):
        taken.append(n)
        time.sleep(0.02)  # 50 per second against 200 arriving: about three in four are dropped
    assert taken == sorted(taken) and taken[-1] == 39
    assert summary.frames_dropped == 40 - len(taken) and summary.frames_dropped >= 20
    unpaced = StreamSummary("mem", "test", "Breast", "segmentation")
    assert [n for n, _, _ in _Pacer(iter([np.zeros((2, 2, 3), np.uint8)] * 5), None, unpaced)] == list(range(5))
    assert unpaced.frames_dropped == 0


def test_frames_of_mixed_sizes_stop_the_run_and_keep_what_was_written(frames, x86_bundle, tmp_path, run_cli):
    folder = write_cine(frames[:4], tmp_path / "mixed", "folder")
    Image.fromarray(frames[0][:90, :100]).save(folder / "frame_0002b.png")  # the 4th frame in name order
    code, _, err = run_cli("run", x86_bundle, folder, "--dataset", "Breast", "-o", tmp_path / "out")
    assert_one_line_error(code, err, "frame 3 is 100x90", "3 frame(s) already written are kept",
                          "frame_0000.png, frame_0001.png, frame_0002.png")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["frame_0000.png", "frame_0001.png",
                                                                        "frame_0002.png"]
    summary = json.loads((tmp_path / "out/stream.json").read_text())
    assert not summary["complete"] and "frame 3 is 100x90" in summary["error"]


def test_bad_cine_input_is_one_clear_line(frames, x86_bundle, tmp_path, run_cli):
    corrupt = tmp_path / "scan.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    code, _, err = run_cli("run", x86_bundle, corrupt, "--dataset", "Breast", "-o", tmp_path / "o1")
    assert_one_line_error(code, err, "scan.mp4: cannot open the video")
    cine = write_cine(frames[:2], tmp_path / "c.dcm", "dcm")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast")
    assert_one_line_error(code, err, "give -o FOLDER")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/keep.png").write_bytes(b"x")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "-o", tmp_path / "busy")
    assert_one_line_error(code, err, "is not empty; pass --force")
    assert (tmp_path / "busy/keep.png").read_bytes() == b"x"
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Nowhere", "-o", tmp_path / "o2")
    assert_one_line_error(code, err, "no task Nowhere/segmentation")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "-o", tmp_path / "o3", "--workers", "0")
    assert_one_line_error(code, err, "at least 1")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "-o", tmp_path / "o4", "--fps", "-5")
    assert_one_line_error(code, err, "--fps must be positive")
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3", "o4"))  # nothing written on refusal


def test_oversized_batches_and_cines_are_one_line(frames, x86_bundle, tmp_path, run_cli):
    cine = write_cine(frames[:2], tmp_path / "c.dcm", "dcm")
    code, _, err = run_cli("run", x86_bundle, cine, "--dataset", "Breast", "-o", tmp_path / "o1", "--batch", "100000")
    assert_one_line_error(code, err, "micro-batch of 100000 images is beyond the 64")  # was a 56 GiB allocation
    code, _, err = run_cli("data", "cine", tmp_path / "long.dcm", "--frames", "100000000")
    assert_one_line_error(code, err, "1 to 10,000 frames")  # was killed for memory
    assert not (tmp_path / "o1").exists() and not (tmp_path / "long.dcm").exists()


def test_a_run_that_fails_before_its_first_frame_leaves_no_folder(frames, x86_bundle, tmp_path, run_cli):
    video = write_cine(frames, tmp_path / "c.mkv", "mkv")
    truncated = tmp_path / "cut.mkv"
    truncated.write_bytes(video.read_bytes()[:3000])  # the header and no whole frame
    code, _, err = run_cli("run", x86_bundle, truncated, "--dataset", "Breast", "-o", tmp_path / "out")
    assert_one_line_error(code, err, "no decodable frame", "no frame was written")
    assert not (tmp_path / "out").exists()  # a rerun needs no --force
