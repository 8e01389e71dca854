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


def _profile(target: str | Path | DeviceProfile | None) -> DeviceProfile | None:
    return target if target is None or isinstance(target, DeviceProfile) else load_profile(target)


def open_runner(model: str | Path, target: str | Path | DeviceProfile | None = None, *,
                checkpoint: str | Path | None = None, spec_file: str | Path | None = None, threads: int | None = None):
    """A runner for :func:`validate` and :func:`profile`, as the CLI's ``--reference``/``--candidate`` take
    models: an ONNX/OpenVINO file or a compile/quantize folder opens its backend with the settings it was
    compiled with (those it does not record, from ``target``'s profile); anything else is a torch model name or
    ``package.module:factory`` (with ``checkpoint``; a factory needs ``spec_file``). Use it in a ``with`` block,
    or let ``validate`` open it.

    Example::

        import edgeus
        reference = edgeus.open_runner("uniusnet-small")                    # torch, the embedded weights
        candidate = edgeus.open_runner("c", "cpu-arm-handheld", threads=2)  # a compile folder
    """
    from edgeus.backends import registry

    if Path(model).exists():
        return registry.open_runner(model, _profile(target), threads)
    from edgeus.backends.torch import TorchRunner
    from edgeus.models import load_model

    loaded = load_model(str(model), checkpoint, spec_file)
    return TorchRunner(loaded.module, loaded.spec, threads=threads, name=f"torch:{loaded.name}")


def validation_splits(data: str | Path | None = None, spec=None, *, allow_missing_tasks: bool = False) -> dict:
    """The samples with ground truth :func:`validate` scores, by split: ``internal`` (a phantom/UUSIC25 root's
    ``val``, or the folder itself) and ``external`` where the root has one. ``data``: default, the phantom data
    a build uses (generated once into the cache); ``spec``: default, the uniusnet contract. A task with no
    sample is an error unless ``allow_missing_tasks``.

    Example::

        import edgeus
        splits = edgeus.validation_splits("ph")                # {"internal": [Sample, ...], "external": [...]}
        print({name: len(samples) for name, samples in splits.items()})
    """
    from edgeus.data.defaults import default_phantom
    from edgeus.data.defaults import validation_splits as splits_of
    from edgeus.models import model_spec

    return splits_of(Path(data) if data is not None else default_phantom(), spec or model_spec("uniusnet"),
                     allow_missing_tasks)


def validate(reference, candidate, spec, splits: dict, budgets, *, progress: bool | None = None, **options):
    """Per-task accuracy of ``candidate`` against ``reference`` on the same images: metrics with bootstrap CIs,
    the paired drop and its three-state gate against ``budgets`` (a profile's ``budgets.accuracy_drop``).
    Runners come from :func:`open_runner`, ``splits`` from :func:`validation_splits`; ``options``: ``seed``,
    ``batch_size``. ``progress``: a bar on stderr; by default only when stderr is a terminal.

    Example::

        import edgeus
        profile, loaded = edgeus.load_profile("cpu-arm-handheld"), edgeus.load_model("uniusnet-small")
        report = edgeus.validate(edgeus.open_runner("model.onnx"), edgeus.open_runner("c", profile), loaded.spec,
                                 edgeus.validation_splits("ph", loaded.spec), profile.budgets.accuracy_drop)
        print(report.passed, report.to_dict()["splits"]["internal"]["worst"])
    """
    from edgeus.stages.validate import validate as run_validate

    if not (sys.stderr.isatty() if progress is None else progress):
        return run_validate(reference, candidate, spec, splits, budgets, **options)
    from edgeus.cli.console import progress_bar

    total = 2 * sum(len(samples) for samples in splits.values())  # each image through both models
    with progress_bar("validating", total) as advance:
        return run_validate(reference, candidate, spec, splits, budgets, progress=advance, **options)


def calibration_plan(data: str | Path | None, spec, target: str | Path | DeviceProfile, *, seed: int = 0,
                     per_task: int | None = None, max_samples: int | None = None,
                     allow_missing_tasks: bool = False):
    """The calibration images :func:`quantize` reads, as a build picks them: from ``data``'s ``train`` split (or
    the folder itself), per task row as ``target``'s ``[quantization]`` asks (``per_task``/``max_samples``
    override it), by ``seed``. ``data`` None: the default phantom data. Its ``fingerprint`` keys the stage.

    Example::

        import edgeus
        profile, spec = edgeus.load_profile("cpu-arm-handheld"), edgeus.load_model("uniusnet-small").spec
        plan = edgeus.calibration_plan("ph", spec, profile)
        print(len(plan), plan.coverage)
    """
    from edgeus.data.calibration import plan_for_profile
    from edgeus.data.defaults import default_phantom, split_folder
    from edgeus.data.uusic25 import read_dataset

    root = Path(data) if data is not None else default_phantom()
    dataset = read_dataset(split_folder(root, "calibration"), spec.task_catalog())
    return plan_for_profile(dataset, spec, _profile(target).quantization, seed=seed,
                            allow_missing_tasks=allow_missing_tasks, per_task=per_task, max_samples=max_samples)
