"""Memory where it lives: psutil RSS, NVML per-process GPU memory, Jetson NvMap (parsed here from a table in
the kernel's format; read for real only on a Jetson)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from edgeus.util.memory import GpuProcessMemory, MemorySampler, nvmap_mb, rss_mb

NVMAP_TABLE = """CLIENT                        PROCESS      PID        SIZE
user                          python3      {pid}      102400K
user                          python3      {pid}      4M
user                          nvargus-dae  999999     512000K
total                                                 618496K
"""


def test_rss_of_a_process_that_holds_memory():
    """Read from another process (this one's allocator may reuse freed pages, hiding a new block)."""
    import subprocess
    import sys

    code = "import numpy, sys, time\nblock = numpy.ones(128 * 2**20 // 8)\nprint('ready', flush=True)\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert rss_mb(child.pid) > 128  # the block, touched, plus the interpreter
    finally:
        child.kill()
        child.wait()
    assert rss_mb() > 10


def test_nvmap_sums_this_process_lines_only(tmp_path):
    table = tmp_path / "clients"
    table.write_text(NVMAP_TABLE.format(pid=4242))
    assert nvmap_mb(4242, table) == pytest.approx(100 + 4)
    assert nvmap_mb(1234, table) == 0.0
    assert nvmap_mb(4242, tmp_path / "absent") is None  # not a Jetson, or debugfs not readable


def test_sampler_reports_its_sources_and_a_peak():
    with MemorySampler(interval_s=0.001) as sampler:
        block = np.ones(32 * 2**20 // 8)
        for _ in range(20):
            if len(sampler.samples) > 3:
                break
            import time

            time.sleep(0.01)
    del block
    assert sampler.peak() > 0 and "psutil" in sampler.source
    if not GpuProcessMemory().available:
        assert sampler.gpu_peak() is None and "NVML" not in sampler.source


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="needs an NVIDIA GPU and driver (NVML)")
def test_nvml_counts_this_process_not_the_device():
    gpu = GpuProcessMemory(os.getpid())
    assert gpu.available
    assert gpu.mb() is not None  # 0 until this process holds a CUDA context; the device's 'used' is not read
