"""Video frames (PyAV, FFmpeg's libraries): a cine loop recorded as MP4/AVI/MKV, decoded one frame at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeus.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")


def import_av():
    try:
        import av
    except ImportError:
        raise DataError("reading video needs PyAV: pip install 'edgeus[media]'") from None
    return av


@dataclass
class VideoFrames:
    path: Path
    count: int | None
    fps: float | None
    size: tuple[int, int]
    codec: str

    def frames(self) -> Iterator[np.ndarray]:
        av = import_av()
        n = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield frame.to_ndarray(format="rgb24")
                    n += 1
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise DataError(f"{self.path}: video corrupt after {n} frame(s) ({_reason(exc)})") from None
        if n == 0:
            raise DataError(f"{self.path}: the video holds no decodable frame")
        if self.count and n < self.count - 1:  # a frame of slack: a duration rounds, a counter does not
            raise DataError(f"{self.path}: the video ended after {n} of the {self.count} frames its header announces "
                            "(the file is truncated); the frames before the cut were processed")


def open_video(path: str | Path) -> VideoFrames:
    av = import_av()
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: the file holds no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate) if stream.average_rate else None
            return VideoFrames(path, _announced_frames(container, stream, rate), rate,
                               (stream.codec_context.width, stream.codec_context.height), stream.codec_context.name)
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot open the video ({_reason(exc)})") from None


def _announced_frames(container, stream, rate: float | None) -> int | None:
    """The frame count the header announces: the stream's counter (MP4), else duration x rate (Matroska
    writes a duration, no counter); None when the header says neither."""
    if stream.frames:
        return int(stream.frames)
    if container.duration and rate:
        return round(container.duration / 1_000_000 * rate)
    return None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return (text.strip().splitlines() or [exc.__class__.__name__])[0][:160]
