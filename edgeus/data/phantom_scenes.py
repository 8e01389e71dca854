"""What each phantom task shows: tissue echogenicity, the ground-truth target and label evidence.

A scene is evaluated at arbitrary (x, y) points in normalised image coordinates (0..1 both ways, y = depth
direction), so the same description feeds the beam-space simulation and the pixel-exact ground truth.
Echogenicity is relative backscatter power (1 = ordinary soft tissue).

Class evidence follows the sonographic signs clinicians read:
* breast malignant: irregular/spiculated margin, taller-than-wide, posterior shadowing; benign: smooth oval,
  wider-than-tall, posterior enhancement;
* breast subtypes: A small spiculated with strong shadow, B irregular with microcalcifications, HER2 large
  lobulated with many calcifications, triple-negative round, circumscribed, very dark, strong enhancement;
* fatty liver: brighter parenchyma, stronger depth attenuation, vessels washed out;
* appendicitis: thick (> 6 mm) non-compressible tube, hypoechoic wall, bright inflamed fat, appendicolith.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Points = tuple[np.ndarray, np.ndarray]


@dataclass
class Blob:
    """A star-shaped region: radius(phi) = 1 + sum a_k cos(k phi + p_k), scaled by (ax, ay), rotated."""

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0
    harmonics: list[tuple[int, float, float]] = field(default_factory=list)

    def inside(self, x: np.ndarray, y: np.ndarray, grow: float = 1.0) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        dx, dy = x - self.cx, y - self.cy
        u, v = (c * dx + s * dy) / self.ax, (-s * dx + c * dy) / self.ay
        phi = np.arctan2(v, u)
        radius = np.ones_like(phi)
        for k, amp, phase in self.harmonics:
            radius = radius + amp * np.cos(k * phi + phase)
        return np.hypot(u, v) < radius * grow


def random_blob(rng: np.random.Generator, cx: float, cy: float, size: float, aspect: float, roughness: float,
                high_freq: bool) -> Blob:
    ks = range(2, 5) if not high_freq else range(5, 12)
    harmonics = [(k, roughness * rng.uniform(0.3, 1.0) / (1 if high_freq else k), rng.uniform(0, 2 * np.pi)) for k in ks]
    return Blob(cx, cy, size * np.sqrt(aspect), size / np.sqrt(aspect), rng.uniform(-0.3, 0.3), harmonics)


def smooth_field(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, scale: float, amount: float) -> np.ndarray:
    """Low-frequency tissue inhomogeneity as a sum of random plane waves (deterministic per rng)."""
    out = np.zeros_like(x)
    for _ in range(6):
        kx, ky = rng.normal(0, 1 / scale, 2)
        out += np.cos(2 * np.pi * (kx * x + ky * y) + rng.uniform(0, 2 * np.pi))
    return 1.0 + amount * out / 6 ** 0.5


@dataclass
class Scene:
    """Everything the simulator needs for one image."""

    echo: Callable[[np.ndarray, np.ndarray], np.ndarray]       # relative backscatter power at points
    target: Callable[[np.ndarray, np.ndarray], np.ndarray] | None  # ground-truth mask at points (seg tasks)
    shadow_caster: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    posterior: float = 1.0          # < 1 shadow, > 1 enhancement behind the caster
    attenuation: float = 1.0        # relative depth attenuation (fatty liver: stronger)
    probe: str = "linear"           # linear | convex | sector
    label: int | None = None        # classification label


def _layers(x, y, tops_and_levels):
    """Horizontal tissue layers: each (top, level) sets the echogenicity below depth ``top``."""
    echo = np.ones_like(x)
    for top, level in tops_and_levels:
        echo = np.where(y > top, level, echo)
    return echo


def breast(rng: np.random.Generator, label: int | None = None, subtype: int | None = None) -> Scene:
    """Breast lesion; label 0 benign / 1 malignant, or subtype 0..3 (luminal A, B, HER2, triple-negative)."""
    if label is None and subtype is None:
        label = int(rng.integers(0, 2))
    cx, cy = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.55)
    calcifications = 0
    if subtype is None:
        malignant = label == 1
        size = rng.uniform(0.09, 0.16)
        blob = random_blob(rng, cx, cy, size, aspect=rng.uniform(0.55, 0.8) if malignant else rng.uniform(1.4, 1.9),
                           roughness=0.22 if malignant else 0.05, high_freq=malignant)
        lesion_echo, posterior = (0.12, 0.45) if malignant else (0.2, 1.5)
    else:
        size, aspect, rough, high, lesion_echo, posterior, calcifications = [
            (0.08, 0.7, 0.3, True, 0.12, 0.35, 0),      # luminal A
            (0.12, 1.0, 0.15, False, 0.18, 0.7, 12),    # luminal B
            (0.17, 1.3, 0.18, False, 0.22, 1.0, 40),    # HER2
            (0.12, 1.0, 0.02, False, 0.04, 1.9, 0),     # triple-negative
        ][subtype]
        blob = random_blob(rng, cx, cy, size * rng.uniform(0.9, 1.1), aspect, rough, high)
    calc_pts = []
    for _ in range(calcifications):
        r, a = rng.uniform(0, 0.8) * size, rng.uniform(0, 2 * np.pi)
        calc_pts.append((cx + r * np.cos(a), cy + r * np.sin(a) * 0.7))
    fat = rng.uniform(0.12, 0.2)
    texture_seed = int(rng.integers(1 << 31))

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.45), (0.04, 2.0), (fat, 1.0), (0.82, 0.6)]) * smooth_field(
            np.random.default_rng(texture_seed), x, y, 0.25, 0.3)
        base = np.where(blob.inside(x, y), lesion_echo, base)
        for px, py in calc_pts:
            base = np.where((x - px) ** 2 + (y - py) ** 2 < 0.006 ** 2, 12.0, base)
        return base

    return Scene(echo, blob.inside, blob.inside, posterior, probe="linear",
                 label=label if subtype is None else subtype)


def thyroid(rng: np.random.Generator) -> Scene:
    lobe = Blob(rng.uniform(0.4, 0.6), rng.uniform(0.42, 0.52), rng.uniform(0.28, 0.36), rng.uniform(0.17, 0.22))
    nodule = random_blob(rng, lobe.cx + rng.uniform(-0.1, 0.1), lobe.cy + rng.uniform(-0.04, 0.04),
                         rng.uniform(0.06, 0.11), rng.uniform(0.8, 1.3), 0.08, False)
    halo = rng.uniform() < 0.5
    nodule_echo = rng.choice([0.25, 0.45])
    carotid = Blob(lobe.cx + lobe.ax + 0.06, lobe.cy + 0.02, 0.06, 0.06)

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.5), (0.08, 0.7), (0.22, 0.9)])
        base = np.where(lobe.inside(x, y), 2.5, base)  # homogeneous bright thyroid parenchyma
        base = np.where(carotid.inside(x, y), 0.02, base)
        if halo:
            base = np.where(nodule.inside(x, y, 1.12), 0.1, base)
        return np.where(nodule.inside(x, y), nodule_echo, base)

    return Scene(echo, nodule.inside, nodule.inside if nodule_echo < 0.3 else None, 0.8, probe="linear")


def kidney(rng: np.random.Generator) -> Scene:
    outer = random_blob(rng, rng.uniform(0.42, 0.58), rng.uniform(0.45, 0.58), rng.uniform(0.16, 0.2), 2.2, 0.04, False)
    outer.angle = rng.uniform(-0.5, 0.5)
    sinus = Blob(outer.cx, outer.cy, outer.ax * 0.5, outer.ay * 0.4, outer.angle, [(3, 0.15, rng.uniform(0, 6))])

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.6), (0.15, 1.0)])
        base = np.where(outer.inside(x, y, 1.08), 2.5, base)   # bright perirenal fat capsule
        base = np.where(outer.inside(x, y), 0.45, base)        # hypoechoic cortex
        return np.where(sinus.inside(x, y), 3.0, base)         # echogenic renal sinus

    return Scene(echo, outer.inside, None, 1.0, probe="convex")


def fetal_head(rng: np.random.Generator) -> Scene:
    a = rng.uniform(0.2, 0.27)
    head = Blob(rng.uniform(0.42, 0.58), rng.uniform(0.48, 0.58), a, a * rng.uniform(0.72, 0.85), rng.uniform(-0.6, 0.6))

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.05), (0.1, 0.9)])    # amniotic fluid then uterine tissue
        base = np.where(((x - 0.5) ** 2 + (y - 0.55) ** 2) < 0.42 ** 2, 0.06, base)
        base = np.where(head.inside(x, y, 1.06), 12.0, base)     # skull
        base = np.where(head.inside(x, y), 0.35, base)           # brain
        c, s = np.cos(head.angle), np.sin(head.angle)
        u = c * (x - head.cx) + s * (y - head.cy)
        v = -s * (x - head.cx) + c * (y - head.cy)
        midline = (np.abs(v) < 0.006) & (np.abs(u) < head.ax * 0.8)
        return np.where(midline, 4.0, base)

    return Scene(echo, lambda x, y: head.inside(x, y, 1.06), None, 1.0, probe="convex")


def cardiac(rng: np.random.Generator) -> Scene:
    lv = random_blob(rng, rng.uniform(0.44, 0.56), rng.uniform(0.45, 0.55), rng.uniform(0.11, 0.14), 0.55, 0.04, False)
    lv.angle = rng.uniform(-0.4, 0.1)
    rv = Blob(lv.cx - 0.2, lv.cy - 0.02, 0.07, 0.16, lv.angle)
    atrium = Blob(lv.cx + 0.02, lv.cy + 0.3, 0.1, 0.08)

    def echo(x, y):
        base = np.full_like(x, 0.5)
        base = np.where(lv.inside(x, y, 1.35), 2.2, base)       # myocardium
        base = np.where(rv.inside(x, y), 0.03, base)
        base = np.where(atrium.inside(x, y), 0.03, base)
        return np.where(lv.inside(x, y), 0.03, base)            # blood pool

    return Scene(echo, lv.inside, None, 1.0, probe="sector")


def liver(rng: np.random.Generator, label: int | None = None) -> Scene:
    label = int(rng.integers(0, 2)) if label is None else label
    fatty = label == 1
    vessels = [Blob(rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.85), rng.uniform(0.02, 0.05), rng.uniform(0.015, 0.03),
                    rng.uniform(-1, 1)) for _ in range(5)]
    level = rng.uniform(4.0, 5.0) if fatty else rng.uniform(0.9, 1.1)
    texture_seed = int(rng.integers(1 << 31))

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.6), (0.12, level)])
        base = base * smooth_field(np.random.default_rng(texture_seed), x, y, 0.15, 0.15)
        vessel_echo = 0.6 * level if fatty else 0.05  # fat washes out the portal vessel walls
        for v in vessels:
            base = np.where(v.inside(x, y), vessel_echo, base)
        return base

    return Scene(echo, None, None, 1.0, attenuation=2.2 if fatty else 1.0, probe="convex", label=label)


def appendix(rng: np.random.Generator, label: int | None = None) -> Scene:
    label = int(rng.integers(0, 2)) if label is None else label
    inflamed = label == 1
    cx, cy, angle = rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.6), rng.uniform(-0.5, 0.5)
    radius = rng.uniform(0.07, 0.09) if inflamed else rng.uniform(0.03, 0.04)
    length = rng.uniform(0.25, 0.35)
    stone = Blob(cx + 0.03, cy, 0.018, 0.018) if inflamed and rng.uniform() < 0.7 else None

    def tube(x, y, grow=1.0):
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * (x - cx) + s * (y - cy), -s * (x - cx) + c * (y - cy)
        return (np.abs(u) < length / 2) & (np.abs(v) < radius * grow)

    def echo(x, y):
        base = _layers(x, y, [(0.0, 0.6), (0.1, 1.0)])
        if inflamed:
            base = np.where(tube(x, y, 2.2), 2.6, base)          # inflamed periappendiceal fat
        base = np.where(tube(x, y), 0.2 if inflamed else 0.3, base)  # hypoechoic muscular wall
        base = np.where(tube(x, y, 0.45), 0.04 if inflamed else 3.0, base)  # fluid-filled lumen vs bright mucosa
        if stone is not None:
            base = np.where(stone.inside(x, y), 10.0, base)
        return base

    return Scene(echo, None, stone.inside if stone else None, 0.3, probe="linear", label=label)


SCENES: dict[str, Callable[..., Scene]] = {
    "Breast": breast, "Thyroid": thyroid, "Kidney": kidney, "Fetal_Head": fetal_head, "Cardiac": cardiac,
    "Liver": liver, "Appendix": appendix,
}


def make_scene(dataset: str, kind: str, rng: np.random.Generator, label: int | None) -> Scene:
    if dataset == "Breast_luminal":
        return breast(rng, subtype=label if label is not None else int(rng.integers(0, 4)))
    if dataset == "Breast":
        return breast(rng, label=label)
    factory = SCENES[dataset]
    return factory(rng, label=label) if dataset in ("Liver", "Appendix") else factory(rng)
