"""ARM CPU cores a profile may name as ``hardware.cpu_model``, as QEMU user-mode knows them (``-cpu NAME``),
with what Linux shows for them in ``/proc/cpuinfo``.

Why the cpuinfo lines: ONNX Runtime (through pytorch/cpuinfo) reads ``/proc/cpuinfo`` at import and QEMU 7.2
passes the host's x86 file through, on which it crashes; the emulated userland therefore carries the file a
real core of that model shows (implementer and part numbers from Arm's Technical Reference Manuals, feature
words from the kernel's hwcap names for the architecture version)."""

from __future__ import annotations

from dataclasses import dataclass

_V80 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
_V82 = _V80 + " atomics fphp asimdhp asimdrdm lrcpc dcpop asimddp"


@dataclass(frozen=True)
class ArmCore:
    implementer: int
    part: int
    variant: int
    features: str


ARM_CORES: dict[str, ArmCore] = {
    "cortex-a35": ArmCore(0x41, 0xD04, 0x0, _V80),
    "cortex-a53": ArmCore(0x41, 0xD03, 0x0, _V80),
    "cortex-a55": ArmCore(0x41, 0xD05, 0x2, _V82),
    "cortex-a57": ArmCore(0x41, 0xD07, 0x1, _V80),
    "cortex-a72": ArmCore(0x41, 0xD08, 0x0, _V80),
    "cortex-a76": ArmCore(0x41, 0xD0B, 0x4, _V82),
    "neoverse-n1": ArmCore(0x41, 0xD0C, 0x4, _V82 + " ssbs"),
    "a64fx": ArmCore(0x46, 0x001, 0x1, _V82 + " sve"),
}


def cpuinfo_text(core: str, processors: int) -> str:
    """``/proc/cpuinfo`` as Linux shows it on ``processors`` cores of this model."""
    c = ARM_CORES[core]
    block = (f"BogoMIPS\t: 48.00\nFeatures\t: {c.features}\nCPU implementer\t: 0x{c.implementer:02x}\n"
             f"CPU architecture: 8\nCPU variant\t: 0x{c.variant:x}\nCPU part\t: 0x{c.part:03x}\nCPU revision\t: 0\n")
    return "".join(f"processor\t: {i}\n{block}\n" for i in range(processors))
