from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def toy_spec(tmp_path: Path) -> Path:
    from toymodels import SPEC_TOML

    path = tmp_path / "toy.spec.toml"
    path.write_text(SPEC_TOML)
    return path


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from edgeus.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def run_subprocess(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m edgeus`` in a fresh interpreter (what a user sees, tracebacks included)."""
    import os

    full_env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgeus", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=600)


class WrappedRunner:
    """Mixin for test runners that wrap another (``self.inner``): loading, unloading and metadata delegate."""

    def _load(self):
        self.inner.activate()

    def _unload(self):
        self.inner.deactivate()

    def input_metadata(self):
        return self.inner.input_metadata()

    def output_metadata(self):
        return self.inner.output_metadata()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.strip().splitlines() if not line.startswith("... ")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("edgeus: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory) -> Path:
    """Two images per task row and split: enough for every code path, small enough for 2 cores."""
    from edgeus.data.phantom import generate_phantom

    root = tmp_path_factory.mktemp("small-phantom") / "ph"
    generate_phantom(root, per_task=2, seed=5)
    return root


def build_bundle(target: str, data: Path, out: Path) -> Path:
    from edgeus.contracts.profiles import load_profile
    from edgeus.pipeline.flow import BuildOptions, build

    # one plan, the spec's hint scope (what these bundles are for: shipping, verifying, running them);
    # the plan search has its own tests (tests/pipeline/test_plan_search.py)
    options = BuildOptions(data=data, out=out, threads=2, profile_min_iters=5, profile_min_duration_s=0.2,
                           plan="int8-hint", robustness=target == "cpu-x86-scanner")  # the x86 bundle shows it
    return build(load_profile(target), options).run_dir


@pytest.fixture(scope="session")
def bundles_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def x86_bundle(small_phantom, bundles_root) -> Path:
    """The embedded default built for cpu-x86-scanner (OpenVINO INT8): a complete, ready bundle."""
    return build_bundle("cpu-x86-scanner", small_phantom, bundles_root)


@pytest.fixture(scope="session")
def arm_bundle(small_phantom, bundles_root) -> Path:
    return build_bundle("cpu-arm-handheld", small_phantom, bundles_root)


def seed_stages(built: Path, out: Path, kinds: tuple[str, ...] | None = None) -> None:
    """Copy the finished stage folders (of these kinds; all when None) of the session build that made bundle
    ``built`` into ``out``'s cache. Stage keys are content hashes of the inputs, so a build of the same model,
    data and options in ``out`` starts where that build got: a test about a later stage (a changed image, a
    held lock, a resumed run) does not pay for the export and quantization again."""
    import shutil

    cache = out / ".edgeus-cache"
    cache.mkdir(parents=True, exist_ok=True)
    for stage in (built.parent / ".edgeus-cache").iterdir():
        if (stage / "stage.json").is_file() and (kinds is None or stage.name.rsplit("-", 1)[0] in kinds) \
                and not (cache / stage.name).exists():
            shutil.copytree(stage, cache / stage.name)


def copy_bundle(bundle: Path, dest: Path) -> Path:
    """A private copy a test may damage."""
    import shutil

    target = dest / bundle.name
    shutil.copytree(bundle, target)
    return target


@pytest.fixture(scope="session")
def jetson_bundle(small_phantom, bundles_root) -> Path:
    """A deferred (engine pending) bundle for jetson-orin-nano."""
    return build_bundle("jetson-orin-nano", small_phantom, bundles_root)


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder: 'unchanged' means this is equal before and after."""
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
