"""The Python API's entry points that take names, as the CLI does (``edgeus.build(target="cpu-x86-scanner")``).

The stages underneath take typed objects (pipeline/flow.build: a DeviceProfile and BuildOptions); these resolve
what a user types, show progress through rich when stderr is a terminal (silent otherwise, e.g. in a notebook
cell's log or a CI job) and hand over."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from edgeus.contracts.profiles import DeviceProfile, load_profile
from edgeus.pipeline.flow import BuildOptions, BuildResult, no_progress, silent
from edgeus.pipeline.flow import build as run_build

_PATH_OPTIONS = ("out", "data")


def build(target: str | Path | DeviceProfile, options: BuildOptions | None = None, *, progress: bool | None = None,
          **settings) -> BuildResult:
    """Build a bundle for ``target``: a profile name (``edgeus profiles list``), a profile TOML file, or a
    loaded DeviceProfile. ``settings`` are BuildOptions fields (``out``, ``model``, ``data``, ``plan``,
    ``threads``, ``force``, ...), applied over ``options`` when both are given. ``progress``: the CLI's stage
    lines and bars on stderr; by default only when stderr is a terminal.

    Example::

        import edgeus
        result = edgeus.build(target="cpu-x86-scanner", out="dist")
        print(result.run_dir, "passed" if result.passed else "failed")
    """
    profile = target if isinstance(target, DeviceProfile) else load_profile(target)
    known = {f.name for f in dataclasses.fields(BuildOptions)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown build setting(s) {', '.join(unknown)}; BuildOptions has {', '.join(sorted(known))}")
    settings = {k: Path(v) if k in _PATH_OPTIONS and v is not None else v for k, v in settings.items()}
    options = dataclasses.replace(options or BuildOptions(), **settings)
    if not (sys.stderr.isatty() if progress is None else progress):
        return run_build(profile, options, silent, no_progress)
    from edgeus.cli.build_console import stage_reporter
    from edgeus.cli.console import progress_bar

    with stage_reporter() as on_stage:
        return run_build(profile, options, on_stage=on_stage, progress_for=progress_bar)
