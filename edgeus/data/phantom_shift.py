"""Ultrasound shifts generated natively by the phantom: the acquisition itself changes (before log
compression and scan conversion), not the finished image.

Where the simulator has the physical parameter (data/phantom_sim.py), a family's severity sets it:

- ``gain`` / ``gain_up``: receive gain offset in dB, added before log compression. A gain change moves every
  grey level by the same amount (dB / dynamic range x 255) and saturates at black or white, unlike the
  image family's multiplicative gain (data/shifts.py), which is what a display or export does afterwards.
- ``contrast``: the dynamic range of the log compression, widened by 1 / r (r as in the image family).
- ``tgc``: attenuation left uncorrected by time-gain compensation, dB at full depth (one-way amplitude).
- ``speckle``: the speckle correlation lengths (point-spread function, axial and lateral) scaled up.
- ``sector``: every probe becomes a phased-array sector of the family's field of view.

Resolution, JPEG and motion blur happen after acquisition (scan conversion, export, probe motion over a
frame): they are image transforms only. Each sample's random draws are consumed in the same order with or
without a shift, so a shifted split holds the same scenes as the unshifted one (paired comparisons)."""

from __future__ import annotations

import math
from dataclasses import replace

from edgeus.data.phantom_sim import Domain
from edgeus.data.shifts import FAMILIES, check_shift

# the physical parameter at severities 0..5, one tuple per natively generated family
NATIVE: dict[str, tuple[str, tuple]] = {
    "gain": ("receive gain offset (dB)", (0.0, -3.0, -5.0, -7.0, -9.0, -12.0)),
    "gain_up": ("receive gain offset (dB)", (0.0, 3.0, 5.0, 7.0, 9.0, 12.0)),
    "contrast": ("dynamic range x 1/r", tuple(1.0 / r for r in FAMILIES["contrast"].values)),
    "tgc": ("uncorrected attenuation at full depth (dB)", FAMILIES["tgc"].values),
    "speckle": ("speckle correlation length factor", (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)),
    "sector": ("sector probe field of view (degrees)", FAMILIES["sector"].values),
}


def check_native(shifts: dict[str, int]) -> None:
    for family, severity in shifts.items():
        check_shift(family, severity)
        if family not in NATIVE:
            raise ValueError(f"shift family {family!r} happens after acquisition (an image transform), the phantom "
                             f"generates {', '.join(NATIVE)} natively")


def parse_shifts(text: str) -> dict[str, int]:
    """``"gain=3,speckle=2"`` -> {"gain": 3, "speckle": 2}; refused naming the part that is wrong."""
    shifts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        family, sep, severity = part.partition("=")
        if not sep or not severity.strip().lstrip("-").isdigit():
            raise ValueError(f"{part!r}: write FAMILY=SEVERITY, e.g. gain=3")
        shifts[family.strip()] = int(severity)
    check_native(shifts)
    return shifts


def shifted_domain(domain: Domain, shifts: dict[str, int]) -> Domain:
    """The acquisition settings of ``domain`` under ``shifts`` (family -> severity)."""
    check_native(shifts)
    changes: dict = {}
    for family, severity in shifts.items():
        value = NATIVE[family][1][severity]
        if family in ("gain", "gain_up"):
            changes["gain_db"] = tuple(g + value for g in changes.get("gain_db", domain.gain_db))
        elif family == "contrast":
            changes["dynamic_range_db"] = domain.dynamic_range_db * value
        elif family == "tgc":
            changes["tgc_loss_db"] = float(value)
        elif family == "speckle":
            changes["psf_axial"], changes["psf_lateral"] = domain.psf_axial * value, domain.psf_lateral * value
        elif family == "sector" and severity > 0:
            changes["probe"], changes["sector_half_angle"] = "sector", math.radians(value / 2.0)
    name = domain.name + "".join(f"+{f}{s}" for f, s in shifts.items() if s)
    return replace(domain, name=name, **changes)
