"""What every benchmark records beside its figures: the machine (CPU, cores, ISA), the libraries' versions, and
the options every side-by-side run takes; and how it writes its results (JSON and the markdown tables)."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from edgeus.util.toolchain import cpu_isa

LIBRARIES = ("torch", "onnxruntime", "openvino", "nncf", "edgeus")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(*extra: str) -> dict[str, str]:
    """The libraries' versions, and the edgeus commit measured (a deployment rewrite or plan change between two
    runs is a different graph under the same version number)."""
    import subprocess
    from importlib.metadata import version

    found = {name: version(name) for name in (*LIBRARIES, *extra)}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {**found, "edgeus commit": commit}


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "isa": cpu_isa(), "python": platform.python_version()}


def header(results: dict) -> tuple[str, list[str]]:
    """(the versions as one string, the results' first markdown lines: machine, ISA, threads, versions)."""
    m = results["machine"]
    joined = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    return joined, [f"**Machine**: {m['cpu']}, {m['cores']} cores; ISA {', '.join(m['isa'])}. "
                    f"Threads: {results['threads']}. Versions: {joined}.", ""]


def add_common_options(parser: argparse.ArgumentParser, work: str) -> None:
    parser.add_argument("--models", default="uniusnet-small,uniusnet")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=work)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))


def write_results(out: str | Path, stem: str, results: dict, markdown: Callable[[dict], str], model: str) -> None:
    """results/STEM.json and STEM.md (after each model, so a long run keeps what it measured), and the model's
    tables on stdout."""
    out = Path(out)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(markdown(results) + "\n")
    print(markdown({**results, "models": {model: results["models"][model]}}), flush=True)
