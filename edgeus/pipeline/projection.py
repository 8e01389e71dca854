"""A timing taken on the build machine, projected to the target from spec-sheet figures.

The model, written down so it can be checked: a CPU inference is bound by compute or by memory traffic, so the
target takes ``ratio`` times the host's time, with

    ratio = max(host compute / target compute, host bandwidth / target bandwidth)

where compute is the peak of the precision the plan runs (INT8 ops or FP32 FLOPs per second) on the cores the
threads use: the target's from its profile (``peak_int8_tops``, ``peak_fp32_gflops``: the figures of the
cores its runtime threads run on), the host's from its ISA (FLOPs per cycle per core) x clock x threads; and
bandwidth is the profile's ``memory_bandwidth_gbs`` against a copy measured here. Taking the larger ratio
assumes the target's weaker resource dominates. A spec-sheet projection, never a measurement: real kernels
reach different fractions of peak on different CPUs, so it says "near the budget or far from it", no more.
Memory use does not scale with speed: the same model and runtime hold the same buffers, so memory projects
as measured."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgeus.contracts.profiles import DeviceProfile
from edgeus.util.toolchain import cpu_isa

# Peak work per cycle per core by ISA (FP32 FLOPs with FMA; INT8 multiply-adds x 2). Conservative: one
# full-width FMA port (what Tiger Lake client cores and Zen 4's double-pumped AVX-512 sustain).
_PER_CYCLE = (  # (feature, fp32 FLOP/cycle, int8 op/cycle); the first feature this CPU has wins
    ("amx_int8", 32, 1024), ("avx512_vnni", 32, 128), ("avx_vnni", 32, 128), ("avx512f", 32, 64),
    ("avx2", 32, 64), ("asimddp", 16, 64), ("asimd", 16, 32))


@dataclass(frozen=True)
class HostPeaks:
    ghz: float
    fp32_per_core: float   # GFLOPS
    int8_per_core: float   # GOPS
    bandwidth_gbs: float
    basis: str


@lru_cache(maxsize=1)
def host_peaks() -> HostPeaks:
    isa = set(cpu_isa())
    feature, fp32, int8 = next((row for row in _PER_CYCLE if row[0] in isa), ("scalar", 2, 2))
    ghz = _clock_ghz()
    return HostPeaks(ghz, fp32 * ghz, int8 * ghz, _copy_bandwidth_gbs(),
                     f"{feature}: {fp32} FLOP and {int8} INT8 op per cycle per core at {ghz:.2f} GHz")


def _clock_ghz() -> float:
    """The highest clock this CPU reports (cpufreq's maximum, else /proc/cpuinfo's current MHz)."""
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        pass
    try:
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("cpu MHz")]
        return max(mhz) / 1000 if mhz else 2.0
    except (OSError, ValueError):
        return 2.0


def _copy_bandwidth_gbs() -> float:
    """Read + write bandwidth of a 64 MiB copy, the best of three (STREAM-copy style, one thread)."""
    import numpy as np

    src = np.ones(16 << 20, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


@dataclass(frozen=True)
class Projection:
    ratio: float      # target time / host time
    basis: str        # how, in words


def project(profile: DeviceProfile, host_threads: int, host: HostPeaks | None = None) -> Projection | None:
    """The host-to-target time ratio for ``profile`` timed here with ``host_threads``; None when the profile
    publishes no peak for its precision."""
    hw, host = profile.hardware, host or host_peaks()
    int8 = profile.precision.value in ("int8", "mixed")
    target = hw.peak_int8_tops * 1000 if int8 and hw.peak_int8_tops else hw.peak_fp32_gflops
    if not target:
        return None
    unit = "GOPS INT8" if int8 and hw.peak_int8_tops else "GFLOPS FP32"
    here = (host.int8_per_core if unit.endswith("INT8") else host.fp32_per_core) * host_threads
    ratio, why = here / target, f"compute {here:.0f} {unit} here ({host_threads} threads; {host.basis}) vs {target:.0f}"
    if hw.memory_bandwidth_gbs:
        memory = host.bandwidth_gbs / hw.memory_bandwidth_gbs
        why += f"; bandwidth {host.bandwidth_gbs:.1f} GB/s here (copy) vs {hw.memory_bandwidth_gbs:g}"
        ratio = max(ratio, memory)
    return Projection(ratio, why + f": x{ratio:.2f} (the weaker resource dominates)")
