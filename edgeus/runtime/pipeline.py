"""The pipelined predictor: decoding, preprocessing, inference and postprocessing of many images overlap.

Serial prediction leaves the engine idle while an image is decoded, preprocessed and its mask resized (45 %
on top of the model for the small uniusnet). Here a small pool of worker threads each carries one job (one
image, or a micro-batch of consecutive images of one task) through prepare -> infer -> finish; while one
worker is inside the engine, the others decode and postprocess. The engine itself stays serialised by its
own streams (an OpenVINO compiled model with one stream runs one request at a time; the workers' requests
queue there), so overlapping adds no oversubscription of the inference threads. Every step releases the GIL
for its heavy part (Pillow decoding, numpy, the backend's infer call).

Order and memory: results come back in input order; at most ``depth`` jobs (plus the one being handed
over) are in flight and the input iterable is read lazily by a feeder thread, so memory stays flat on an input of any length (a generator of 10,000 frames holds
``depth`` of them at a time).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeus.errors import EdgeusError


@dataclass(frozen=True)
class Record:
    """One image to predict. ``key`` is the caller's (a file name, a frame index) and comes back as is."""
    image: str | Path | bytes | np.ndarray
    dataset: str
    task: str = "segmentation"
    organ: str | None = None
    key: Any = None


@dataclass
class Prediction:
    record: Record
    value: np.ndarray | None  # mask (uint8, original size) or class probabilities; None when ``error``
    error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> Any:
        return self.record.key


MAX_BATCH = 64


@dataclass(frozen=True)
class PipelineOptions:
    workers: int = 3          # concurrent jobs: one in the engine, the others preparing and finishing
    depth: int = 8            # jobs in flight at most (bounds memory)
    max_batch: int = 1        # micro-batch consecutive records of one task up to this many images
    errors: str = "raise"     # "raise": a bad record stops the run there; "return": it comes back with .error
    # jobs inside the engine at once (0: no limit). The engine's streams: more concurrent calls than streams
    # only oversubscribe the cores (ONNX Runtime runs every call it gets on its own threads), while the extra
    # workers decode and postprocess.
    engine_slots: int = 0

    def __post_init__(self) -> None:
        if self.workers < 1 or self.depth < 1 or self.max_batch < 1:
            raise EdgeusError("pipeline workers, depth and max_batch must each be at least 1")
        if self.max_batch > MAX_BATCH:
            raise EdgeusError(f"a micro-batch of {self.max_batch} images is beyond the {MAX_BATCH} this runtime takes "
                              "(a partial batch is padded to it, and past a few images batching gains nothing on a CPU)")
        if self.engine_slots < 0:
            raise EdgeusError("pipeline engine_slots must be 0 (no limit) or more")
        if self.errors not in ("raise", "return"):
            raise EdgeusError(f"errors must be 'raise' or 'return', not {self.errors!r}")


def default_workers() -> int:
    return max(2, min(4, (os.cpu_count() or 2)))


def _batches(records: Iterable[Record], max_batch: int) -> Iterator[list[Record]]:
    """Consecutive records of one (dataset, task, organ) grouped up to max_batch; order kept."""
    batch: list[Record] = []
    for record in records:
        if not isinstance(record, Record):
            raise EdgeusError(f"predict_many takes Record items, got {type(record).__name__}")
        if batch and (record.dataset, record.task, record.organ) != (batch[0].dataset, batch[0].task, batch[0].organ):
            yield batch
            batch = []
        batch.append(record)
        if len(batch) >= max_batch:  # full: submitted now, not when the next record arrives (a live source)
            yield batch
            batch = []
    if batch:
        yield batch


def _run_job(predictor, batch: list[Record], errors: str, max_batch: int = 1,
             engine: threading.Semaphore | None = None) -> list[Prediction]:
    results: list[Prediction] = []
    prepared = []
    t0 = time.perf_counter()
    for record in batch:
        try:
            prepared.append((record, predictor.prepare(record.image, record.dataset, record.task, record.organ)))
        except EdgeusError as exc:
            if errors == "raise":
                raise
            results.append(Prediction(record, None, str(exc)))
    t1 = time.perf_counter()
    if prepared:
        try:
            if engine is None:
                values = predictor.infer([p for _, p in prepared], pad_to=max_batch)
            else:
                with engine:
                    values = predictor.infer([p for _, p in prepared], pad_to=max_batch)
        except EdgeusError as exc:
            if errors == "raise":
                raise
            return results + [Prediction(r, None, str(exc)) for r, _ in prepared]
        t2 = time.perf_counter()
        for (record, prep), value in zip(prepared, values, strict=True):
            results.append(Prediction(record, predictor.finish(prep, value)))
        t3 = time.perf_counter()
        share = 1000.0 / len(prepared)  # a micro-batch's times are shared by its images
        for p in results:
            if p.error is None:
                p.timings_ms = {"prepare": (t1 - t0) * share, "infer": (t2 - t1) * share, "finish": (t3 - t2) * share}
    order = {id(r): n for n, r in enumerate(batch)}
    return sorted(results, key=lambda p: order[id(p.record)])


_END = object()
STOP_WAIT_S = 0.5  # how long a run that stopped early waits for the jobs still running


class _DaemonWorkers:
    """A fixed pool of daemon threads running submitted calls into Futures.

    Not a ThreadPoolExecutor: its threads are joined when the interpreter exits, so one inference stuck in a
    native call would keep a Ctrl-C'd process alive. These never hold up an exit; a clean finish still waits
    for them (``close(wait=True)``), so nothing is left running behind a completed run."""

    def __init__(self, count: int, name: str) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True) for n in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():  # cancelled before it started
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 -- delivered to whoever waits on the future
                future.set_exception(exc)

    def close(self, wait: float | None) -> None:
        """Let the threads end after their current job; wait for them at most ``wait`` seconds (None: until
        they have)."""
        for _ in self._threads:
            self._jobs.put(None)
        deadline = None if wait is None else time.monotonic() + wait
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))


def pipelined(predictor, records: Iterable[Record], options: PipelineOptions = PipelineOptions()) -> Iterator[Prediction]:
    """Predictions for ``records`` in input order, computed by ``options.workers`` overlapping jobs.

    A feeder thread reads the records and submits jobs, at most ``depth`` ahead of the consumer; the caller's
    thread only waits for the oldest job. Reading and delivering are apart, so a result is handed over as
    soon as it is ready even while the next record is not (a live source waiting for its next frame).

    Stopping never waits on a stuck thread: when the consumer stops early or an exception (Ctrl-C included)
    ends the run, jobs not started are cancelled and neither the feeder (which may be blocked reading a
    live source) nor a worker (which may be inside the engine) is waited for; all are daemon threads."""
    in_flight: queue.Queue = queue.Queue(maxsize=options.depth)
    stop = threading.Event()
    engine = threading.Semaphore(options.engine_slots) if options.engine_slots else None

    def hand_over(item) -> None:  # blocks while the consumer is behind; gives up once it has gone
        while not stop.is_set():
            try:
                in_flight.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def feed(workers: _DaemonWorkers) -> None:
        try:
            for batch in _batches(records, options.max_batch):
                if stop.is_set():
                    return
                hand_over(workers.submit(_run_job, predictor, batch, options.errors, options.max_batch, engine))
        except BaseException as exc:  # noqa: BLE001 -- a record that could not be read: delivered in its place
            hand_over(exc)
        finally:
            hand_over(_END)

    workers = _DaemonWorkers(options.workers, "edgeus-predict")
    feeder = threading.Thread(target=feed, args=(workers,), name="edgeus-feed", daemon=True)
    feeder.start()
    finished = False
    try:
        while (item := in_flight.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield from item.result()
        finished = True
    finally:  # done, failed, or the consumer stopped early: stop reading, drop what has not started
        stop.set()
        while True:
            try:
                item = in_flight.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Future):
                item.cancel()
        if finished:  # the feeder handed over _END: it is ending
            feeder.join()
        # a run that stopped early gives the jobs inside the engine a moment to come out (a process that exits
        # while a native call runs can abort in the runtime's destructors); a stuck one is left behind
        workers.close(wait=None if finished else STOP_WAIT_S)
