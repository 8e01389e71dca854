"""The record a quantize or compile output folder carries (``quantize.json`` / ``compile.json``), read in one
place: which model file it holds, with which backend settings, made from which quantization."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgeus.errors import EdgeusError

RECORD_FILES = ("compile.json", "quantize.json")  # a compile folder's record wins over the quantize one it copied


@dataclass(frozen=True)
class ModelRecord:
    folder: Path
    kind: str                   # "compile" | "quantize"
    model: Path                 # the model file inside ``folder``
    backend: str | None
    settings: dict = field(default_factory=dict)   # runtime settings (compile records)
    quantize: dict | None = None                   # the quantization record (the compile's source, or itself)
    data: dict = field(default_factory=dict)       # the whole record, for reports

    @classmethod
    def read(cls, folder: str | Path, error: type[Exception] = EdgeusError) -> ModelRecord:
        folder = Path(folder)
        for name in RECORD_FILES:
            path = folder / name
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_text())
                model = folder / Path(data["path"]).name  # records hold file names, never machine paths
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
                raise error(f"{path}: malformed stage record ({exc.__class__.__name__})") from None
            kind = name.removesuffix(".json")
            return cls(folder, kind, model, data.get("backend"), data.get("settings") or {},
                       data if kind == "quantize" else data.get("quantize"), data)
        raise error(f"{folder}: not a model file nor a compile/quantize output folder "
                    f"(no {' or '.join(RECORD_FILES)})")
