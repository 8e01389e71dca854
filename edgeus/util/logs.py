"""Library log noise goes to a log file, not the console.

One ``edgeus build`` made NNCF alone print hundreds of ``INFO:nncf:`` lines between edgeus's progress lines.
While ``capture_library_logs`` is active, every library logger (NNCF detaches from its own stdout handler
here), Python warnings and whatever libraries print to stdout (NNCF's progress bars) go to one log file;
ONNX Runtime's native logger is raised to errors. With ``verbose`` the records are also shown on stderr.
Warnings are counted and their distinct messages kept, so the console can summarise the ones that matter.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Loggers that install handlers of their own or stop propagation; they are pointed at the file instead.
# NNCF is not listed: its logger must be created by NNCF's own import (a subclass with extra methods), so it
# is adopted when imported (``adopt_logger``, called by the NNCF quantizer) or when already loaded.
LIBRARY_LOGGERS = ("openvino", "onnxruntime", "onnx", "onnxslim", "torch", "matplotlib", "PIL", "executorch",
                   "coremltools", "torchao")
_ACTIVE: list[dict] = []  # the saved logger states of the active captures (innermost last)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class CapturedLogs:
    path: Path
    warnings: list[str] = field(default_factory=list)  # distinct warning messages, in order of first appearance

    def summary(self, limit: int = 3) -> list[str]:
        shown = [w if len(w) <= 160 else w[:157] + "..." for w in self.warnings[:limit]]
        more = len(self.warnings) - len(shown)
        return shown + ([f"... and {more} more"] if more > 0 else [])


class _WarningCollector(logging.Handler):
    def __init__(self, captured: CapturedLogs) -> None:
        super().__init__(logging.WARNING)
        self.captured = captured

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
        text = f"{record.name}: {message}"
        if message and text not in self.captured.warnings:
            self.captured.warnings.append(text)


class _LoggerStream(io.TextIOBase):
    """A file-like stdout replacement that writes whole lines to a logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger, self.buffer_text = logger, ""

    def write(self, text: str) -> int:
        self.buffer_text += text
        *lines, self.buffer_text = self.buffer_text.split("\n")
        for line in lines:
            if line.strip():
                self.logger.info(line.rstrip())
        return len(text)

    def isatty(self) -> bool:
        return False


def _quiet_onnxruntime(verbose: bool) -> None:
    try:
        import onnxruntime
    except ImportError:
        return
    onnxruntime.set_default_logger_severity(0 if verbose else 3)


@contextlib.contextmanager
def capture_library_logs(path: Path, verbose: bool = False) -> Iterator[CapturedLogs]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    captured = CapturedLogs(path)
    file_handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.Handler] = [file_handler, _WarningCollector(captured)]
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        handlers.append(stream)
    root = logging.getLogger()
    saved_root_level = root.level
    saved = {}
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.propagate, logger.level)
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.INFO)
    _ACTIVE.append(saved)
    if "nncf" in sys.modules:
        adopt_logger("nncf")
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    _quiet_onnxruntime(verbose)
    stdout_logger = logging.getLogger("stdout")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            logging.captureWarnings(True)
            redirect = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(_LoggerStream(stdout_logger))
            with redirect:
                yield captured
    finally:
        _ACTIVE.remove(saved)
        logging.captureWarnings(False)
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_root_level)
        for name, (old_handlers, propagate, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = old_handlers, propagate
            logger.setLevel(level)


def adopt_logger(name: str) -> None:
    """Point a library logger that prints on its own (NNCF: a stdout handler, no propagation) at the active
    capture, if any; its state is restored when the capture ends."""
    if not _ACTIVE:
        return
    logger = logging.getLogger(name)
    _ACTIVE[-1].setdefault(name, (list(logger.handlers), logger.propagate, logger.level))
    logger.handlers, logger.propagate = [], True
    logger.setLevel(logging.INFO)


def scrub_paths(text: str, replacements: dict[str, str]) -> str:
    """``text`` with machine paths replaced by placeholders (longest first), for logs shipped in a bundle. Only
    known roots are replaced: model op names such as ``/swin/layers.0/Conv`` look like paths and must stay."""
    for path, placeholder in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        if path and path not in ("/", "."):
            text = text.replace(path, placeholder)
    return text


def command_log_path(command: str) -> Path:
    """Where a stage command run alone (``edgeus quantize`` ...) keeps its library logs: ``$EDGEUS_LOG_DIR``, else
    ``$XDG_STATE_HOME/edgeus/logs`` (``~/.local/state/edgeus/logs``); one file per command, the latest run's. A
    build keeps its own ``build.log`` in its output folder instead."""
    import os
    import tempfile

    base = os.environ.get("EDGEUS_LOG_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state"), "edgeus", "logs")
    try:
        Path(base).mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: the logs are still worth keeping for this session
        base = os.path.join(tempfile.gettempdir(), "edgeus-logs")
        Path(base).mkdir(parents=True, exist_ok=True)
    return Path(base) / f"{command.replace(' ', '-')}.log"
