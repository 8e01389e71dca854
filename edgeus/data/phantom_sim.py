"""B-mode image formation for the phantom: probe geometry, speckle, attenuation, shadowing, log compression.

The echo map of a scene is sampled on a beam grid (depth x lateral, in the probe's own coordinates), where
speckle has its physical shape (short axially, wide laterally) and shadows fall along the beam. The
envelope is log-compressed and scan-converted onto the pixel grid; outside the field of view stays black.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeus.data.phantom_scenes import Scene

BEAM_DEPTH, BEAM_LATERAL = 320, 256
REFERENCE_DB = 30.0


@dataclass(frozen=True)
class Domain:
    """Acquisition settings of a 'centre'. The external centre differs in gain, speckle size and probe."""

    name: str
    gain_db: tuple[float, float]
    dynamic_range_db: float
    psf_axial: float      # speckle correlation length, beam samples
    psf_lateral: float
    height: tuple[int, int]
    width: tuple[int, int]
    linear_width: float   # fraction of the image width the linear array covers
    convex_half_angle: float
    sector_half_angle: float
    tgc_loss_db: float = 0.0        # attenuation left uncorrected at full depth (data/phantom_shift.py)
    probe: str | None = None        # every scene imaged with this probe (a geometry shift), else its own


INTERNAL = Domain("internal", (-2.0, 2.0), 50.0, 0.9, 2.0, (256, 320), (300, 400), 0.9, 0.6, 0.75)
EXTERNAL = Domain("external", (3.0, 7.0), 45.0, 1.6, 3.4, (300, 360), (280, 340), 0.75, 0.45, 0.62)


@dataclass(frozen=True)
class Geometry:
    kind: str
    width: int
    height: int
    x0: float
    x1: float
    top: float
    apex_x: float = 0.0
    apex_y: float = 0.0
    r0: float = 0.0
    r1: float = 0.0
    half_angle: float = 0.0

    def beam_to_pixel(self, d: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "linear":
            return self.x0 + lat * (self.x1 - self.x0), self.top + d * (self.height - 1 - self.top)
        theta = (2 * lat - 1) * self.half_angle
        r = self.r0 + d * (self.r1 - self.r0)
        return self.apex_x + r * np.sin(theta), self.apex_y + r * np.cos(theta)

    def pixel_to_beam(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.kind == "linear":
            d = (y - self.top) / (self.height - 1 - self.top)
            lat = (x - self.x0) / (self.x1 - self.x0)
        else:
            r = np.hypot(x - self.apex_x, y - self.apex_y)
            theta = np.arctan2(x - self.apex_x, y - self.apex_y)
            d = (r - self.r0) / (self.r1 - self.r0)
            lat = (theta / self.half_angle + 1) / 2
        inside = (d >= 0) & (d <= 1) & (lat >= 0) & (lat <= 1)
        return d, lat, inside


def make_geometry(kind: str, width: int, height: int, domain: Domain, rng: np.random.Generator) -> Geometry:
    top = float(rng.integers(4, 14))
    if kind == "linear":
        span = domain.linear_width * width
        x0 = (width - span) / 2
        return Geometry("linear", width, height, x0, x0 + span, top)
    if kind == "convex":
        r0 = 0.35 * height
        return Geometry("convex", width, height, 0, width, top, apex_x=width / 2, apex_y=top - r0, r0=r0,
                        r1=r0 + height - 1 - top, half_angle=domain.convex_half_angle)
    return Geometry("sector", width, height, 0, width, top, apex_x=width / 2, apex_y=top, r0=2.0,
                    r1=height - 1 - top, half_angle=domain.sector_half_angle)


def speckle(rng: np.random.Generator, shape: tuple[int, int], axial: float, lateral: float) -> np.ndarray:
    """Fully developed speckle: |PSF * complex Gaussian scatterers|, unit mean power (Rayleigh amplitude)."""
    field = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    psf = np.exp(-2 * np.pi**2 * ((fy * axial) ** 2 + (fx * lateral) ** 2))
    amp = np.abs(np.fft.ifft2(np.fft.fft2(field) * psf))
    return amp / np.sqrt(np.mean(amp**2))


def bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0 = np.clip(np.floor(rows).astype(np.int64), 0, image.shape[0] - 2)
    c0 = np.clip(np.floor(cols).astype(np.int64), 0, image.shape[1] - 2)
    fr, fc = np.clip(rows - r0, 0, 1), np.clip(cols - c0, 0, 1)
    top = image[r0, c0] * (1 - fc) + image[r0, c0 + 1] * fc
    bottom = image[r0 + 1, c0] * (1 - fc) + image[r0 + 1, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def simulate(scene: Scene, rng: np.random.Generator, domain: Domain) -> tuple[np.ndarray, np.ndarray | None]:
    """Render one B-mode image (uint8 H x W) and its ground-truth mask (uint8 {0,255}, or None)."""
    height = int(rng.integers(*domain.height))
    width = int(rng.integers(*domain.width))
    geo = make_geometry(domain.probe or scene.probe, width, height, domain, rng)

    d = np.linspace(0, 1, BEAM_DEPTH)[:, None] * np.ones((1, BEAM_LATERAL))
    lat = np.ones((BEAM_DEPTH, 1)) * np.linspace(0, 1, BEAM_LATERAL)[None, :]
    bx, by = geo.beam_to_pixel(d, lat)
    nx, ny = bx / (width - 1), by / (height - 1)
    echo = scene.echo(nx, ny)

    if scene.shadow_caster is not None and scene.posterior != 1.0:
        caster = scene.shadow_caster(nx, ny)
        behind = np.maximum.accumulate(caster, axis=0) & ~caster
        # soften the shadow edges laterally, as a finite beam width does
        kernel = np.ones(7) / 7
        soft = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, behind.astype(float))
        echo = echo * (1 + (scene.posterior - 1) * soft)

    alpha = 2.2  # one-way attenuation over the full depth, nepers (amplitude)
    tgc = np.exp(0.8 * alpha * d)  # time-gain compensation restores most of an ordinary tissue's loss
    tgc = tgc * 10.0 ** (-domain.tgc_loss_db * d / 20.0)
    envelope = np.sqrt(echo) * np.exp(-scene.attenuation * alpha * d) * tgc
    envelope = envelope * speckle(rng, (BEAM_DEPTH, BEAM_LATERAL), domain.psf_axial, domain.psf_lateral)
    gain = rng.uniform(*domain.gain_db)
    # Ordinary tissue (echo 1) lands at about 40 % grey, so bright interfaces and dark lesions both show.
    db = 20 * np.log10(envelope + 1e-6) + gain - REFERENCE_DB
    beam_image = np.clip((db + domain.dynamic_range_db) / domain.dynamic_range_db, 0, 1)

    py, px = np.mgrid[0:height, 0:width].astype(np.float64)
    bd, bl, inside = geo.pixel_to_beam(px, py)
    pixels = bilinear(beam_image, bd * (BEAM_DEPTH - 1), bl * (BEAM_LATERAL - 1))
    pixels = np.where(inside, pixels, 0.0)
    pixels = pixels + rng.normal(0, 0.01, pixels.shape) * inside  # electronic noise
    image = np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8)

    mask = None
    if scene.target is not None:
        truth = scene.target(px / (width - 1), py / (height - 1)) & inside
        mask = truth.astype(np.uint8) * 255
    return image, mask
