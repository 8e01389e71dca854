"""ARM CPU cores a profile may name as ``hardware.cpu_model``, as QEMU user-mode knows them (``-cpu NAME``),
with what Linux shows for them in ``/proc/cpuinfo``.

Why the cpuinfo lines: ONNX Runtime (through pytorch/cpuinfo) reads ``/proc/cpuinfo`` at import and QEMU 7.2
passes the host's x86 file through, on which it crashes; the emulated userland therefore carries the file a
real core of that model shows (implementer and part numbers from Arm's Technical Reference Manuals, feature
words from the kernel's hwcap names for the architecture version).

A core QEMU lacks (Debian's QEMU 7.2 has no Armv9 core) is emulated as QEMU's ``max`` CPU with the extensions the
device does not expose switched off: the kernels a runtime picks follow the feature words (dot product, I8MM,
BF16, FP16), which then match the device's; the microarchitecture does not (timing is never taken there)."""

from __future__ import annotations

from dataclasses import dataclass

_V80 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
_V82 = _V80 + " atomics fphp asimdhp asimdrdm lrcpc dcpop asimddp"
# Armv9.0 as Android phones show it (Snapdragon 8 Gen 2's cores: the kernel exposes no SVE there)
_V90_PHONE = _V82 + " jscvt fcma sha3 sm3 sm4 sha512 asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp " \
    "flagm2 frint i8mm bf16 bti"


@dataclass(frozen=True)
class ArmCore:
    implementer: int
    part: int
    variant: int
    features: str
    qemu_cpu: str = ""  # what ``-cpu`` gets where QEMU has no model of this core ("" = the core's own name)

    def qemu_argument(self, name: str) -> str:
        return self.qemu_cpu or name


ARM_CORES: dict[str, ArmCore] = {
    "cortex-a35": ArmCore(0x41, 0xD04, 0x0, _V80),
    "cortex-a53": ArmCore(0x41, 0xD03, 0x0, _V80),
    "cortex-a55": ArmCore(0x41, 0xD05, 0x2, _V82),
    "cortex-a57": ArmCore(0x41, 0xD07, 0x1, _V80),
    "cortex-a72": ArmCore(0x41, 0xD08, 0x0, _V80),
    "cortex-a76": ArmCore(0x41, 0xD0B, 0x4, _V82),
    "neoverse-n1": ArmCore(0x41, 0xD0C, 0x4, _V82 + " ssbs"),
    "a64fx": ArmCore(0x46, 0x001, 0x1, _V82 + " sve"),
    # Cortex-X3 (part 0xD4E, Arm's TRM), the prime core of a Snapdragon 8 Gen 2: QEMU 7.2 has no model of it
    "cortex-x3": ArmCore(0x41, 0xD4E, 0x1, _V90_PHONE, qemu_cpu="max,sve=off,sme=off"),
}


def cpuinfo_text(core: str, processors: int) -> str:
    """``/proc/cpuinfo`` as Linux shows it on ``processors`` cores of this model."""
    c = ARM_CORES[core]
    block = (f"BogoMIPS\t: 48.00\nFeatures\t: {c.features}\nCPU implementer\t: 0x{c.implementer:02x}\n"
             f"CPU architecture: 8\nCPU variant\t: 0x{c.variant:x}\nCPU part\t: 0x{c.part:03x}\nCPU revision\t: 0\n")
    return "".join(f"processor\t: {i}\n{block}\n" for i in range(processors))
