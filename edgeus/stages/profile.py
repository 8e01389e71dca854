"""Stage 5, profile: latency distribution, cold start, throughput, memory and size of a runnable model.

Measurement rules: warm up by both count and time; then time at least ``min_iters`` iterations and at least
``min_duration_s`` seconds. Cold start is measured apart: model load, then the first inference. Compute-only
latency feeds preprocessed tensors; end-to-end latency starts from original-size image files and includes
decoding, preprocessing and postprocessing. Memory is the process RSS sampled by a thread every 5 ms,
absolute and above the pre-load baseline; GPU memory through NVML where an NVIDIA GPU exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner
from edgeus.contracts.feeds import feeds_by_role, spec_inputs
from edgeus.contracts.preprocess import mask_to_original, preprocess, read_image, softmax
from edgeus.contracts.spec import ModelSpec
from edgeus.data.uusic25 import Sample
from edgeus.util.toolchain import machine_description
from edgeus.uusic25.leaderboard import UUSIC25_TEST_IMAGES, leaderboard  # noqa: F401 -- re-exported

COV_WARNING = 0.025


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; ru_maxrss elsewhere as a fallback)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemorySampler:
    """Samples RSS (and GPU memory when NVML is available) on a background thread."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float | None]] = []  # (t, rss MiB, gpu MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()
        self._nvml = _nvml_handle()

    def _gpu_mb(self) -> float | None:
        if self._nvml is None:
            return None
        import pynvml

        return pynvml.nvmlDeviceGetMemoryInfo(self._nvml).used / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self._t0, rss_mb(), self._gpu_mb()))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> float:
        return max((s[1] for s in self.samples), default=rss_mb())

    def gpu_peak(self) -> float | None:
        values = [s[2] for s in self.samples if s[2] is not None]
        return max(values) if values else None


def _nvml_handle():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no NVML library, no driver or no GPU: GPU memory is simply not reported
        return None


@dataclass
class LatencyStats:
    n: int
    min_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    std_ms: float
    cov: float

    @classmethod
    def of(cls, seconds: list[float]) -> LatencyStats:
        a = np.array(seconds) * 1000
        mean = float(a.mean())
        return cls(len(a), float(a.min()), mean, float(np.median(a)), float(np.percentile(a, 90)),
                   float(np.percentile(a, 95)), float(np.percentile(a, 99)), float(a.max()), float(a.std()),
                   float(a.std() / mean) if mean else 0.0)


@dataclass
class PerfReport:
    model: str
    backend: str
    machine: dict
    load_s: float
    first_inference_ms: float
    compute: LatencyStats
    end_to_end: LatencyStats
    throughput: dict[str, float]            # batch size -> images/s
    peak_rss_mb: float
    rss_above_baseline_mb: float
    peak_gpu_mb: float | None
    model_size_mb: float
    projected_uusic25_s: float
    memory_timeline: list[tuple[float, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _timed_loop(fn: Callable[[], object], min_iters: int, min_duration_s: float, max_iters: int = 100000) -> list[float]:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < min_duration_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def model_size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def profile_model(make_runner: Callable[[], Runner], spec: ModelSpec, samples: list[Sample], *,
                  model_files: list[Path], batch_sizes: list[int], threads: int | None = None,
                  warmup_iters: int = 5, warmup_s: float = 1.0, min_iters: int = 30, min_duration_s: float = 3.0,
                  e2e_iters: int = 20) -> PerfReport:
    catalog = spec.task_catalog()
    pre = spec.preprocessing_spec()
    baseline = rss_mb()
    with MemorySampler() as memory:
        runner = make_runner()
        runner.activate()
        try:
            feeds = spec.example_feeds(1)
            t = time.perf_counter()
            runner.infer(feeds)
            first_ms = (time.perf_counter() - t) * 1000
            _timed_loop(lambda: runner.infer(feeds), warmup_iters, warmup_s)
            compute = _timed_loop(lambda: runner.infer(feeds), min_iters, min_duration_s)

            cycle = iter(())
            # Without data (a device with no images at hand), end to end runs on synthetic 800x600 frames of
            # every task: no file decoding, everything else (preprocessing, inference, mapping) as usual.
            synthetic = [(task, np.random.default_rng(i).integers(0, 256, (600, 800, 3), dtype=np.uint8))
                         for i, task in enumerate(catalog.tasks)]

            def one_image() -> None:
                nonlocal cycle
                item = next(cycle, None)
                if item is None:
                    cycle = iter(samples or synthetic)
                    item = next(cycle)
                if samples:
                    task, raw = item.task, read_image(item.image_path, item.id)
                else:
                    task, raw = item
                out = runner.infer(feeds_by_role(spec_inputs(spec), preprocess(raw, pre)[None], catalog.prompt(task)))
                value = out[task.output][0]
                if task.kind == "segmentation":
                    mask_to_original(value, raw.shape[1], raw.shape[0], "stretch", pre)
                else:
                    softmax(value)

            end_to_end = _timed_loop(one_image, min(e2e_iters, max(len(samples or synthetic), 1)), 0.0)
            throughput = {}
            for b in batch_sizes:
                batch_feeds = spec.example_feeds(b)
                runner.infer(batch_feeds)
                times = _timed_loop(lambda f=batch_feeds: runner.infer(f), max(3, min_iters // b), min_duration_s / 2)
                throughput[str(b)] = float(b / np.median(times))
        finally:
            load_s = runner.load_time_s or 0.0
            runner.deactivate()
    compute_stats, e2e_stats = LatencyStats.of(compute), LatencyStats.of(end_to_end)
    warnings = []
    if compute_stats.cov > COV_WARNING:
        warnings.append(f"compute latency varies: coefficient of variation {compute_stats.cov:.1%} > {COV_WARNING:.1%} "
                        "(a shared or throttling machine); percentiles are less reliable")
    timeline = [(round(t, 4), round(r, 1)) for t, r, _ in memory.samples[:: max(1, len(memory.samples) // 400)]]
    return PerfReport(
        model=runner.name, backend=runner.backend, machine=machine_description(), load_s=load_s,
        first_inference_ms=first_ms, compute=compute_stats, end_to_end=e2e_stats, throughput=throughput,
        peak_rss_mb=memory.peak(), rss_above_baseline_mb=memory.peak() - baseline, peak_gpu_mb=memory.gpu_peak(),
        model_size_mb=model_size_mb(model_files), projected_uusic25_s=UUSIC25_TEST_IMAGES * e2e_stats.mean_ms / 1000,
        memory_timeline=timeline, latencies_ms=[round(x * 1000, 4) for x in compute], warnings=warnings,
        settings={"threads": threads, "batch_sizes": batch_sizes, "min_iters": min_iters, "min_duration_s": min_duration_s,
                  "end_to_end_images": "validation images" if samples else "synthetic 800x600 frames (no data given)"},
    )


def compare_speed(make_baseline: Callable[[], Runner], make_candidate: Callable[[], Runner], spec: ModelSpec,
                  rounds: int = 15) -> dict:
    """Interleaved batch-1 timing of a baseline and a candidate (same feeds, alternating), medians in ms."""
    feeds = spec.example_feeds(1)
    with make_baseline() as base, make_candidate() as cand:
        for runner in (base, cand):
            runner.infer(feeds)
        times: dict[str, list[float]] = {"baseline": [], "candidate": []}
        for _ in range(rounds):
            for label, runner in (("baseline", base), ("candidate", cand)):
                t = time.perf_counter()
                runner.infer(feeds)
                times[label].append(time.perf_counter() - t)
    base_ms, cand_ms = (float(np.median(times[k]) * 1000) for k in ("baseline", "candidate"))
    return {"baseline": base.name, "baseline_ms": base_ms, "candidate_ms": cand_ms, "speedup": base_ms / cand_ms}
