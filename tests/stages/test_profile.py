from __future__ import annotations

import pytest

from edgeus.backends.torch import TorchRunner
from edgeus.contracts.profiles import load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.models import create_model, model_spec
from edgeus.pipeline.verdicts import all_passed, perf_verdicts
from edgeus.stages.profile import LatencyStats, leaderboard, profile_model


def test_latency_stats():
    s = LatencyStats.of([0.010, 0.011, 0.012, 0.013, 0.050])
    assert s.n == 5 and s.min_ms == pytest.approx(10) and s.max_ms == pytest.approx(50)
    assert s.median_ms == pytest.approx(12) and s.p95_ms > s.p90_ms > s.median_ms
    assert s.cov == pytest.approx(s.std_ms / s.mean_ms)


def test_leaderboard_is_the_published_table():
    rows = leaderboard()
    assert len(rows) == 15 and rows[0]["codename"] == "SMART" and float(rows[0]["time_s"]) == 36.03


def test_profile_model_measures_everything(tmp_path):
    root = tmp_path / "ph"
    generate_phantom(root, per_task=1, seed=2, splits=("val",))
    spec = model_spec("uniusnet-small")
    model = create_model("uniusnet-small")
    samples = read_dataset(root / "val").samples
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"\0" * 2_000_000)
    perf = profile_model(lambda: TorchRunner(model, spec, threads=2), spec, samples, model_files=[weights],
                         batch_sizes=[1, 2], min_iters=8, min_duration_s=0.3, warmup_iters=2, warmup_s=0.1, e2e_iters=5)
    assert perf.compute.n >= 8 and perf.end_to_end.n >= 5
    assert perf.end_to_end.mean_ms > 0 and perf.first_inference_ms > 0 and perf.load_s >= 0
    assert set(perf.throughput) == {"1", "2"}
    assert perf.peak_rss_mb > 100 and perf.rss_above_baseline_mb >= 0 and perf.memory_timeline
    assert perf.model_size_mb == pytest.approx(2_000_000 / 2**20)
    # the test-set projection comes from the pipelined throughput; the serial one is kept beside it
    assert perf.projected_uusic25_s == pytest.approx(2479 / perf.pipelined["images_per_s"])
    assert perf.pipelined["projected_uusic25_serial_s"] == pytest.approx(2479 * perf.end_to_end.mean_ms / 1000)
    assert perf.pipelined["images"] >= 60 and perf.pipelined["vs_compute"] > 0
    assert "torch" in perf.process["build_side_modules"]  # in-process with a torch model: reported, not hidden
    assert "psutil" in perf.memory_source
    profile = load_profile("cpu-x86-scanner")
    verdicts = perf_verdicts(profile, perf, measured_on_target=False)
    items = {v.item for v in verdicts}
    assert {"latency p95 (compute, batch 1)", "model size", "peak system memory"} <= items
    assert all("not on" in v.note for v in verdicts if v.item.startswith("latency"))
    tight = profile.model_copy(update={"budgets": profile.budgets.model_copy(update={"model_size_mb": 1.0})})
    assert not all_passed(perf_verdicts(tight, perf, measured_on_target=False))


def test_uusic25_server_projects_the_test_set(tmp_path):
    root = tmp_path / "ph"
    generate_phantom(root, per_task=1, seed=2, splits=("val",))
    spec = model_spec("uniusnet-small")
    model = create_model("uniusnet-small")
    perf = profile_model(lambda: TorchRunner(model, spec, threads=2), spec, read_dataset(root / "val").samples,
                         model_files=[], batch_sizes=[1], min_iters=3, min_duration_s=0.1, warmup_iters=1,
                         warmup_s=0.0, e2e_iters=3)
    verdicts = perf_verdicts(load_profile("uusic25-server"), perf, measured_on_target=False)
    test_set = next(v for v in verdicts if "2479-image" in v.item)
    assert test_set.budget == pytest.approx(36.03)
    gpu = next(v for v in verdicts if v.item == "peak gpu memory")
    assert gpu.passed is None  # no GPU here: not measured, not passed
