"""A picture of generated phantom samples per task (internal and external centre), for docs/.

    python -m edgeus.data.gallery docs/phantom-samples.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edgeus.contracts.tasks import load_catalog
from edgeus.data.phantom import render_sample

TILE_W, TILE_H = 200, 170


def _tile(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    if mask is not None:
        m = mask > 0
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        edge = edge | np.roll(edge, 1, 0) | np.roll(edge, 1, 1)
        rgb[edge] = (255, 60, 60)
    return np.asarray(Image.fromarray(rgb).resize((TILE_W, TILE_H), Image.BILINEAR))


def gallery(per_task: int = 2, seed: int = 0) -> Image.Image:
    catalog = load_catalog()
    rows = []
    for row, task in enumerate(catalog.tasks):
        tiles = []
        for split in ("val", "external"):
            for i in range(per_task):
                image, mask, label = render_sample(task, row, split, i, seed)
                tiles.append(_tile(image, mask))
        rows.append((task, np.concatenate(tiles, axis=1)))
    label_w = 260
    canvas = Image.new("RGB", (label_w + rows[0][1].shape[1], 24 + TILE_H * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((label_w, 6), f"internal centre ({per_task} per task)", fill="black")
    draw.text((label_w + per_task * TILE_W, 6), "external centre (gain, speckle, probe differ)", fill="black")
    for r, (task, strip) in enumerate(rows):
        canvas.paste(Image.fromarray(strip), (label_w, 24 + r * TILE_H))
        labels = "\n".join(f"{i} = {c}" for i, c in enumerate(task.classes)) if task.kind == "classification" else "red: ground truth"
        draw.text((6, 24 + r * TILE_H + 8), f"{task.dataset}\n{task.kind}\n{labels}", fill="black")
    return canvas


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/phantom-samples.png")
    gallery().save(out)
    print(out)
