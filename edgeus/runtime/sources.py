"""Where frames come from for ``edgeus run``: one image, a folder of frames, a video or a DICOM file.

Every source yields uint8 frames one at a time, H x W x 3 RGB or H x W for grayscale (8-bit gray images,
monochrome DICOM: preprocessing reads them as three equal channels, at a third of the cost) (a long cine is never held in memory) and knows
its recorded frame rate when the file carries one. A cine has one frame size: a frame of another size stops
the run with a clear error (the frames before it are already written by then, and kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeus.contracts.preprocess import read_image
from edgeus.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class FrameSource:
    kind: str                     # image | folder | video | dicom
    path: Path
    count: int | None             # frames, when known before decoding
    fps: float | None             # recorded frame rate, when the file carries one
    names: list[str] = field(default_factory=list)  # folder: the frame files, in order
    detail: str = ""              # codec, SOP class, photometric interpretation
    _reader: object = None

    def frames(self) -> Iterator[np.ndarray]:
        """The frames in order; a frame whose size differs from the first one's is a DataError."""
        size = None
        for n, frame in enumerate(self._raw_frames()):
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise DataError(f"{self.path}: frame {n} is {frame.shape[1]}x{frame.shape[0]} but the cine's "
                                f"frames are {size[1]}x{size[0]}: a cine loop has one frame size")
            yield frame

    def _raw_frames(self) -> Iterator[np.ndarray]:
        if self.kind == "image":
            yield read_image(self.path, keep_gray=True)
        elif self.kind == "folder":
            for name in self.names:
                yield read_image(self.path / name, keep_gray=True)
        else:
            yield from self._reader.frames()

    def frame_name(self, n: int) -> str:
        """A stable name for frame n: the source file's stem for a folder, frame_000042 otherwise."""
        if self.kind == "folder":
            return Path(self.names[n]).stem
        if self.kind == "image":
            return self.path.stem
        return f"frame_{n:06d}"


def open_source(path: str | Path) -> FrameSource:
    from edgeus.runtime.dicom import is_dicom, open_dicom
    from edgeus.runtime.video import VIDEO_SUFFIXES, open_video

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input not found")
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise DataError(f"{path}: no frame images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        return FrameSource("folder", path, len(names), None, names)
    if path.suffix.lower() == ".dcm" or is_dicom(path):
        d = open_dicom(path)
        return FrameSource("dicom", path, d.count, d.fps, detail=f"{d.sop_class}, {d.photometric}, "
                           f"{d.size[0]}x{d.size[1]}", _reader=d)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        v = open_video(path)
        return FrameSource("video", path, v.count, v.fps, detail=f"{v.codec}, {v.size[0]}x{v.size[1]}", _reader=v)
    return FrameSource("image", path, 1, None)
