"""Stage 5, profile: latency distribution, cold start, throughput, memory and size of a runnable model.

Measurement rules: warm up by both count and time; then time at least ``min_iters`` iterations and at least
``min_duration_s`` seconds. Cold start is measured apart: model load, then the first inference. Compute-only
latency feeds preprocessed tensors; end-to-end latency starts from original-size image files and includes
decoding, preprocessing and postprocessing, through the vendor runtime's own Predictor (runtime/predictor.py),
serially and pipelined (runtime/pipeline.py): the pipelined throughput is what a device sustains over a
test set, so the projected UUSIC25 time comes from it. Memory (util/memory.py) is this process's RSS sampled
every 5 ms, absolute and above the pre-load baseline, with NvMap on Jetson and NVML per-process GPU memory on
discrete GPUs. The build runs this in a fresh process holding only the runtime (pipeline/profile_worker.py);
``process`` in the report lists any build-side module that was loaded nonetheless (a test keeps it empty).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeus.backends.base import Runner
from edgeus.contracts.feeds import spec_inputs
from edgeus.contracts.preprocess import BUNDLE_MASK_MAPPING
from edgeus.contracts.reports import LatencyStats, PerfReport
from edgeus.contracts.spec import ModelSpec
from edgeus.data.uusic25 import Sample
from edgeus.util.memory import MemorySampler, rss_mb
from edgeus.util.toolchain import machine_description
from edgeus.uusic25.leaderboard import UUSIC25_TEST_IMAGES, leaderboard  # noqa: F401 -- re-exported

COV_WARNING = 0.025
# Modules that must not be in a process whose memory is reported as the device's: the build side.
BUILD_SIDE_MODULES = ("torch", "nncf", "onnx", "onnxslim", "sklearn", "scipy", "matplotlib", "safetensors")


def loaded_build_modules() -> list[str]:
    return sorted(m for m in BUILD_SIDE_MODULES if sys.modules.get(m) is not None)


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
                  e2e_iters: int = 20, pipelined_images: int = 60,
                  make_throughput_runner: Callable[[], Runner] | None = None, streams: int = 1) -> PerfReport:
    """Latency (compute and end to end), throughput per batch size, memory and cold start of the runner
    ``make_runner()`` opens, on ``samples`` (end to end: decoding, preprocessing, inference, mapping);
    ``model_files`` are the files whose size is reported. ``make_throughput_runner`` (with its ``streams``):
    the engine opened for throughput, which the pipelined measurement uses, as ``predict_many`` over a test set
    does; without it, the latency engine.

    Example (a compile folder; the runner and samples from public functions)::

        from pathlib import Path
        import edgeus
        profile, spec = edgeus.load_profile("cpu-arm-handheld"), edgeus.load_model("uniusnet-small").spec
        perf = edgeus.profile(lambda: edgeus.open_runner("c", profile), spec,
                              edgeus.validation_splits("ph", spec)["internal"],
                              model_files=[Path("c/model.onnx")], batch_sizes=[1, 8], threads=2)
        print(perf.compute["median_ms"], perf.machine["cpu"], perf.settings)
    """
    import os

    from edgeus.runtime.pipeline import Record

    baseline = rss_mb()
    with MemorySampler() as memory:
        runner = make_runner()
        runner.activate()
        try:
            predictor = spec_predictor(spec, runner)
            feeds = spec.example_feeds(1)
            t = time.perf_counter()
            runner.infer(feeds)
            first_ms = (time.perf_counter() - t) * 1000
            _timed_loop(lambda: runner.infer(feeds), warmup_iters, warmup_s)
            compute = _timed_loop(lambda: runner.infer(feeds), min_iters, min_duration_s)

            # Without data (a device with no images at hand), end to end runs on synthetic 800x600 frames of
            # every task: no file decoding, everything else (preprocessing, inference, mapping) as usual.
            images = [Record(str(s.image_path), s.task.dataset, s.task.kind) for s in samples] or [
                Record(np.random.default_rng(i).integers(0, 256, (600, 800, 3), dtype=np.uint8), task.dataset, task.kind)
                for i, task in enumerate(spec.task_catalog().tasks)]
            cycle = iter(())

            def one_image() -> None:
                nonlocal cycle
                record = next(cycle, None)
                if record is None:
                    cycle = iter(images)
                    record = next(cycle)
                predictor.predict(record.image, record.dataset, record.task)

            end_to_end = _timed_loop(one_image, min(e2e_iters, max(len(images), 1)), 0.0)
            throughput = {}
            for b in batch_sizes:
                batch_feeds = spec.example_feeds(b)
                runner.infer(batch_feeds)
                times = _timed_loop(lambda f=batch_feeds: runner.infer(f), max(3, min_iters // b), min_duration_s / 2)
                throughput[str(b)] = float(b / np.median(times))
        finally:
            load_s = runner.load_time_s or 0.0
            runner.deactivate()
        stream = [images[i % len(images)] for i in range(max(pipelined_images, len(images)))]
        if make_throughput_runner is None:
            piped = measure_pipelined(make_runner, spec, stream, 1, feeds, min_duration_s)
        else:
            piped = measure_pipelined(make_throughput_runner, spec, stream, streams, feeds, min_duration_s)
    compute_stats, e2e_stats = LatencyStats.of(compute), LatencyStats.of(end_to_end)
    piped["latency_engine_compute_images_per_s"] = 1000.0 / compute_stats.median_ms
    piped["vs_latency_engine_compute"] = piped["images_per_s"] / piped["latency_engine_compute_images_per_s"]
    warnings = []
    if compute_stats.cov > COV_WARNING:
        warnings.append(f"compute latency varies: coefficient of variation {compute_stats.cov:.1%} > {COV_WARNING:.1%} "
                        "(a shared or throttling machine); percentiles are less reliable")
    timeline = [(round(t, 4), round(r, 1)) for t, r, _ in memory.samples[:: max(1, len(memory.samples) // 400)]]
    return PerfReport(
        model=runner.name, backend=runner.backend, machine=machine_description(), load_s=load_s,
        first_inference_ms=first_ms, compute=compute_stats, end_to_end=e2e_stats, throughput=throughput,
        peak_rss_mb=memory.peak(), rss_above_baseline_mb=memory.peak() - baseline, peak_gpu_mb=memory.gpu_peak(),
        model_size_mb=model_size_mb(model_files), projected_uusic25_s=UUSIC25_TEST_IMAGES / piped["images_per_s"],
        memory_timeline=timeline, latencies_ms=[round(x * 1000, 4) for x in compute], warnings=warnings,
        settings={"threads": threads, "batch_sizes": batch_sizes, "min_iters": min_iters, "min_duration_s": min_duration_s,
                  "end_to_end_images": "validation images" if samples else "synthetic 800x600 frames (no data given)"},
        pipelined={**piped, "serial_images_per_s": 1000.0 / e2e_stats.mean_ms,
                   "projected_uusic25_serial_s": UUSIC25_TEST_IMAGES * e2e_stats.mean_ms / 1000},
        process={"pid": os.getpid(), "build_side_modules": loaded_build_modules()},
        memory_source=memory.source,
    )


def concurrent_throughput(call: Callable[[], object], callers: int, seconds: float) -> float:
    """Calls per second with ``callers`` threads calling back to back (after a few warm-up calls each)."""
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(3 * callers):
        call()
    count, end = [0] * callers, time.perf_counter() + seconds

    def feed(k: int) -> None:
        while time.perf_counter() < end:
            call()
            count[k] += 1

    t = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(feed, range(callers)))
    return sum(count) / (time.perf_counter() - t)


def measure_pipelined(make_runner: Callable[[], Runner], spec: ModelSpec, stream: list, streams: int,
                      feeds: dict, min_duration_s: float) -> dict:
    """End-to-end throughput of the pipelined predictor over ``stream`` on one engine, and that engine's
    compute-only throughput measured right before (``streams`` callers feeding preprocessed tensors)."""
    from edgeus.runtime.pipeline import PipelineOptions, pipelined

    with make_runner() as runner:
        predictor = spec_predictor(spec, runner)
        compute_ips = concurrent_throughput(lambda: runner.infer(feeds), streams, max(min_duration_s / 2, 0.5))
        t = time.perf_counter()
        done = sum(1 for _ in pipelined(predictor, iter(stream), PipelineOptions(workers=streams + 2, engine_slots=streams)))
        piped_ips = done / (time.perf_counter() - t)
    return {"images": done, "images_per_s": piped_ips, "streams": streams, "compute_images_per_s": compute_ips,
            "vs_compute": piped_ips / compute_ips}


def spec_predictor(spec: ModelSpec, runner: Runner):
    """The vendor runtime's Predictor for a model spec: what a bundle of this model runs on the device."""
    from edgeus.runtime.predictor import Predictor, Task

    catalog = spec.task_catalog()
    tasks = [Task(t.dataset, t.kind, tuple(t.classes), t.output, np.asarray(catalog.prompt(t), dtype=np.float32),
                  (t.organ.lower(), t.json_organ.lower())) for t in catalog.tasks]
    return Predictor(runner, spec.preprocessing_spec(), spec_inputs(spec), tasks, BUNDLE_MASK_MAPPING)


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


def measure_interleaved(factories: dict[str, Callable[[], Runner]], feeds: dict, rounds: int, min_s: float,
                        progress_for: Callable) -> dict[str, dict]:
    """Batch-1 latency of several models side by side: each round runs every model in turn (one settling call,
    one timed), so drift and noisy neighbours hit all alike; medians and p95 over rounds (at least ``rounds``
    and ``min_s`` seconds, at most 20x ``rounds``). How the plan search ranks its candidates."""
    import contextlib
    import statistics

    times: dict[str, list[float]] = {name: [] for name in factories}
    with contextlib.ExitStack() as stack:
        runners = {name: stack.enter_context(factory()) for name, factory in factories.items()}
        for runner in runners.values():
            runner.infer(feeds)  # warm-up: first-call allocations and lazy compilation stay out
        start = time.perf_counter()
        with progress_for("time plans", rounds) as advance:
            order = list(runners.items())
            while len(times[next(iter(times))]) < rounds or time.perf_counter() - start < min_s:
                # the order reverses every other round: no model always follows the same one (a small model
                # timed right after an ONNX Runtime session ran up to 1.6x slower in benchmarks/rewrites.py)
                for name, runner in (order if len(times[order[0][0]]) % 2 == 0 else order[::-1]):
                    # one untimed call first: the previous model's runtime threads (ONNX Runtime's spin
                    # after each run, OpenVINO's pool) wind down during it instead of during the timed one
                    runner.infer(feeds)
                    t0 = time.perf_counter()
                    runner.infer(feeds)
                    times[name].append((time.perf_counter() - t0) * 1000)
                advance("round", 1)
                if len(times[next(iter(times))]) >= 20 * rounds:
                    break
        precisions = {name: getattr(r, "actual_precision", None) for name, r in runners.items()}
    out = {}
    for name, values in times.items():
        ordered = sorted(values)
        out[name] = {"median_ms": statistics.median(values),
                     "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                     "rounds": len(values), "actual_precision": precisions[name]}
    return out
