"""Memory of this process where it lives: resident memory (psutil), the GPU memory this process holds on a
discrete NVIDIA GPU (NVML, per process: not the device-wide ``used``, which counts every other process and
the driver), and on Jetson the NvMap/CUDA allocations of unified memory that RSS does not see.

Sampled on a background thread during profiling (stages/profile.py); every source that is not there (no
NVML, not a Jetson, debugfs not readable) simply reports None.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

NVMAP_CLIENTS = Path("/sys/kernel/debug/nvmap/iovmm/clients")  # Jetson: per-process NvMap (GPU/CUDA) memory
_SIZE = re.compile(r"^(\d+)([KMG]?)$")


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MiB (psutil; /proc as a fallback where psutil is missing)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        with open(f"/proc/{pid or 'self'}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def nvmap_mb(pid: int, clients: Path = NVMAP_CLIENTS) -> float | None:
    """NvMap memory of one process on a Jetson, MiB; None where the table is absent or unreadable.

    The table (``CLIENT PROCESS PID SIZE`` with sizes like ``123456K``) lists each client of the NvMap
    allocator; a process may appear on several lines (one per client handle), so its lines are summed."""
    try:
        lines = clients.read_text().splitlines()
    except OSError:
        return None
    total_kib, seen = 0.0, False
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or not fields[-2].isdigit() or int(fields[-2]) != pid:
            continue
        match = _SIZE.match(fields[-1])
        if match:
            total_kib += int(match.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2}[match.group(2)]
            seen = True
    return total_kib / 1024 if seen else 0.0


class GpuProcessMemory:
    """GPU memory held by one process on NVIDIA GPU ``index`` through NVML; ``None`` without NVML/a GPU."""

    def __init__(self, pid: int | None = None, index: int = 0) -> None:
        self.pid = pid or os.getpid()
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception:  # no NVML library, no driver or no GPU: GPU memory is simply not reported
            self._handle = None

    @property
    def available(self) -> bool:
        return self._handle is not None

    def mb(self) -> float | None:
        if self._handle is None:
            return None
        used = 0
        for query in (self._nvml.nvmlDeviceGetComputeRunningProcesses, self._nvml.nvmlDeviceGetGraphicsRunningProcesses):
            try:
                used += sum(p.usedGpuMemory or 0 for p in query(self._handle) if p.pid == self.pid)
            except self._nvml.NVMLError:  # e.g. not supported on this GPU/driver
                continue
        return used / 2**20


class MemorySampler:
    """Samples this process's RSS, its NVML GPU memory and (Jetson) its NvMap memory every few ms."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.pid = os.getpid()
        self.samples: list[tuple[float, float, float | None]] = []  # (t, rss + nvmap MiB, gpu MiB)
        self.nvmap_seen = nvmap_mb(self.pid) is not None
        self._gpu = GpuProcessMemory(self.pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="edgeus-memory")
        self._t0 = time.perf_counter()

    @property
    def source(self) -> str:
        """Where the figures come from, in words (written beside them in perf.json)."""
        parts = ["process RSS (psutil)"]
        if self.nvmap_seen:
            parts.append("+ NvMap unified-memory allocations (Jetson, debugfs)")
        if self._gpu.available:
            parts.append("; GPU: this process's memory (NVML per process)")
        return " ".join(parts)

    def _run(self) -> None:
        while not self._stop.is_set():
            unified = (nvmap_mb(self.pid) or 0.0) if self.nvmap_seen else 0.0
            self.samples.append((time.perf_counter() - self._t0, rss_mb() + unified, self._gpu.mb()))
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
