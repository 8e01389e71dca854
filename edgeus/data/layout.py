"""The UUSIC25 folder layout: names and paths shared by the phantom writer, the reader and the contract."""

from __future__ import annotations

SEG_DIR, CLS_DIR = "segmentation", "classification"
RECORDS_FILE = "records.json"  # the JSON record list of an evaluation split (the challenge's /input_json)


def mask_path_for(img_path_relative: str) -> str:
    """The challenge maps an image path to its mask path by replacing every 'img' with 'mask'."""
    return img_path_relative.replace("img", "mask")


def config_yaml(classes: list[str], segmentation: bool) -> str:
    """``index:name:pixel_value`` lines, as the challenge's training folders carry them."""
    lines = []
    for i, name in enumerate(classes):
        value = (0 if i == 0 else 255) if segmentation else i
        lines.append(f"{i}:{name}:{value}")
    return "\n".join(lines) + "\n"
