"""Running a bundle over a cine (folder, video, DICOM), optionally paced like a live scanner.

Paced (``fps`` given): frame n arrives at t0 + n / fps. When the predictor asks for the next frame and several
have arrived since it last asked, only the newest is kept and the older ones count as dropped: a scanner's
frame grabber overwrites a frame nobody took in time, it does not queue it. In flight are at most ``workers``
frames, so a result is never older than the pipeline. Latency is measured from a frame's arrival to its
result; sustained fps is results per second of wall time.

Unpaced (no ``fps``): every frame is processed as fast as the pipeline goes (an offline export).

Outputs go to a folder, each file written atomically as its frame completes: masks as ``<frame>.png``,
class probabilities as one JSON line per frame in ``probabilities.jsonl``, and ``stream.json`` with the
summary (or, on a failure, the error and the frames already written, which stay). A run that fails before
its first frame leaves nothing: the folder it created is removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeus.errors import EdgeusError
from edgeus.runtime.pipeline import PipelineOptions, Record
from edgeus.runtime.sources import FrameSource
from edgeus.util.atomic import write_atomic

STREAM_JSON = "stream.json"
PROBABILITIES = "probabilities.jsonl"


@dataclass
class StreamSummary:
    source: str
    kind: str
    dataset: str
    task: str
    frames_in: int = 0
    frames_done: int = 0
    frames_dropped: int = 0
    paced_fps: float | None = None
    sustained_fps: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    min_fps: float | None = None
    meets_min_fps: bool | None = None
    written: list[str] = field(default_factory=list)
    complete: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Pacer:
    """Releases frames at their arrival times; keeps only the newest of those that arrived meanwhile."""

    def __init__(self, frames: Iterator[np.ndarray], fps: float | None, summary: StreamSummary,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.frames, self.fps, self.summary, self.clock = frames, fps, summary, clock
        self.t0: float | None = None

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        held: tuple[int, np.ndarray] | None = None
        for n, frame in enumerate(self.frames):
            if self.t0 is None:  # the clock starts with the first frame (opening a file is not the stream)
                self.t0 = self.clock()
            self.summary.frames_in = n + 1
            if self.fps is None:
                yield n, self.clock(), frame
                continue
            arrival = self.t0 + n / self.fps
            now = self.clock()
            if arrival > now:  # not here yet: first hand over the newest frame that is, then wait for this one
                if held is not None:
                    yield held[0], self.t0 + held[0] / self.fps, held[1]
                    held = None
                    now = self.clock()
                if arrival > now:
                    time.sleep(arrival - now)
                yield n, arrival, frame
                continue
            if held is not None:  # a newer frame arrived before anyone took the held one
                self.summary.frames_dropped += 1
            held = (n, frame)
        if held is not None:
            yield held[0], self.t0 + held[0] / self.fps, held[1]


def run_cine(bundle, source: FrameSource, out: Path, dataset: str, task: str, *, fps: float | None = None,
             min_fps: float | None = None, workers: int = 3, max_batch: int = 1,
             progress: Callable[[int], None] | None = None) -> StreamSummary:
    """Predict every (paced) frame of ``source`` into ``out``; the summary is written to out/stream.json
    once the run completes or a frame was written, whatever happens next, and returned (an error is re-raised
    after it is written). A run that fails before its first frame removes the folder if it created it."""
    from PIL import Image

    if fps is not None and not 0 < fps < float("inf"):
        raise EdgeusError(f"--fps must be a positive, finite frame rate, not {fps:g}")
    # live: no more frames in flight than workers (older ones would only wait); offline: a deeper queue
    options = PipelineOptions(workers=workers, depth=workers if fps else 2 * workers, max_batch=1 if fps else max_batch,
                              engine_slots=bundle.streams)
    bundle.task(dataset, task)  # settings and task checked before anything is written or decoded
    summary = StreamSummary(str(source.path), source.kind, dataset, task, paced_fps=fps, min_fps=min_fps)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    pacer = _Pacer(source.frames(), fps, summary)
    records = (Record(frame, dataset, task, key=(n, arrival)) for n, arrival, frame in pacer)
    latencies: list[float] = []
    probabilities: list[str] = []
    first_result: float | None = None
    try:
        for done in bundle.predict_many(records, options):
            n, arrival = done.key
            now = time.perf_counter()
            first_result = first_result or now
            latencies.append((now - arrival) * 1000)
            name = source.frame_name(n)
            if task == "segmentation":
                encoded = io.BytesIO()
                Image.fromarray(done.value).save(encoded, format="PNG")
                write_atomic(out / f"{name}.png", encoded.getvalue())
                summary.written.append(f"{name}.png")
            else:
                probabilities.append(json.dumps({"frame": name, "probability": [float(p) for p in done.value],
                                                 "prediction": int(np.argmax(done.value))}))
                write_atomic(out / PROBABILITIES, "\n".join(probabilities) + "\n")  # the file is whole at every frame
                summary.written.append(f"{PROBABILITIES}:{name}")
            summary.frames_done += 1
            if progress:
                progress(1)
        summary.complete = True
    except BaseException as exc:
        summary.error = str(exc) if not isinstance(exc, KeyboardInterrupt) else "interrupted"
        raise
    finally:
        elapsed = time.perf_counter() - (pacer.t0 or time.perf_counter())
        summary.sustained_fps = summary.frames_done / elapsed if elapsed > 0 else 0.0
        if latencies:
            summary.latency_p50_ms = float(np.percentile(latencies, 50))
            summary.latency_p95_ms = float(np.percentile(latencies, 95))
        if min_fps is not None and summary.complete:
            # paced: kept up with a frame rate at least the profile's, dropping nothing; unpaced: fast enough
            summary.meets_min_fps = (fps >= min_fps and summary.frames_dropped == 0) if fps \
                else summary.sustained_fps >= min_fps
        if summary.complete or summary.written:
            write_atomic(out / STREAM_JSON, json.dumps(summary.to_dict(), indent=1) + "\n")
        elif created:  # failed before any frame: leave no folder behind that a rerun would have to --force
            with contextlib.suppress(OSError):  # never let the tidy-up hide the error being raised
                out.rmdir()
    return summary
