"""The public Python API in ``edgeus`` is lazy (importing edgeus loads no SDK) and resolves to the real things."""

from __future__ import annotations

import subprocess
import sys


def test_import_edgeus_loads_nothing_heavy():
    code = ("import sys, edgeus\n"
            "heavy = [m for m in ('torch', 'openvino', 'onnxruntime', 'nncf', 'onnx', 'scipy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(edgeus.load_profile) and 'torch' not in sys.modules\n"
            "print(sorted(edgeus.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("build", "export", "quantize", "compile", "validate", "profile", "load_profile", "load_model",
                 "runtime"):
        assert f"'{name}'" in result.stdout


def test_api_names_are_the_implementations():
    import edgeus
    from edgeus.api import build, validate
    from edgeus.runtime import load
    from edgeus.stages.profile import profile_model

    assert edgeus.build is build and edgeus.validate is validate and edgeus.runtime.load is load
    assert edgeus.profile is profile_model
    assert edgeus.load_profile("cpu-x86-scanner").name == "cpu-x86-scanner"


def test_build_takes_a_target_name_and_settings_as_the_cli_does(small_phantom, tmp_path):
    """edgeus.build(target="cpu-x86-scanner", ...) used to raise AttributeError ('str' object has no attribute
    'plan'): names and plain keywords now, a DeviceProfile and BuildOptions still."""
    import pytest
    from conftest import TESTS

    import edgeus

    sys.path.insert(0, str(TESTS))  # the factory model lives in tests/toymodels.py
    settings = dict(model="toymodels:gain_fragile_net", spec_file=str(TESTS / "gain_fragile_spec.toml"),
                    data=str(small_phantom), plan="fp32", robustness=False, threads=2, profile_min_iters=3,
                    profile_min_duration_s=0.2)
    result = edgeus.build(target="cpu-x86-scanner", out=str(tmp_path / "dist"), **settings)
    assert result.run_dir.parent == tmp_path / "dist" and (result.run_dir / "manifest.json").is_file()
    assert result.run_dir.name == "gain-fragile-cpu-x86-scanner-fp32"
    with pytest.raises(TypeError, match="unknown build setting.*outdir"):
        edgeus.build(target="cpu-x86-scanner", outdir="x")
    with pytest.raises(edgeus.EdgeusError, match="cpu-x86-scaner"):
        edgeus.build(target="cpu-x86-scaner")


def test_every_public_function_has_a_docstring_with_an_example():
    import inspect

    import edgeus

    functions = [n for n in edgeus.__all__ if n != "runtime" and inspect.isfunction(getattr(edgeus, n))]
    functions += [f"runtime.{n}" for n in ("load",)]
    assert len(functions) >= 12
    for name in functions:
        obj = edgeus
        for part in name.split("."):
            obj = getattr(obj, part)
        doc = inspect.getdoc(obj) or ""
        assert "Example" in doc and "edgeus." in doc.split("Example", 1)[1], f"edgeus.{name} has no example"
        example = doc.split("::", 1)[1] if "::" in doc else ""
        assert "from edgeus." not in example.replace("from edgeus.runtime", ""), \
            f"edgeus.{name}'s example reaches into a private module"


def test_validate_takes_what_public_functions_make(small_phantom, tmp_path):
    """edgeus.validate's inputs: runners from edgeus.open_runner, splits from edgeus.validation_splits."""
    from conftest import TESTS

    import edgeus

    spec = edgeus.load_spec(TESTS / "gain_fragile_spec.toml")
    sys.path.insert(0, str(TESTS))
    profile = edgeus.load_profile("cpu-x86-scanner")
    splits = edgeus.validation_splits(small_phantom, spec)
    assert set(splits) == {"internal", "external"} and all(splits.values())
    spec_file = TESTS / "gain_fragile_spec.toml"
    reference = edgeus.open_runner("toymodels:gain_fragile_net", profile, spec_file=spec_file, threads=2)
    candidate = edgeus.open_runner("toymodels:gain_fragile_net", profile, spec_file=spec_file, threads=2)
    report = edgeus.validate(reference, candidate, spec, splits, profile.budgets.accuracy_drop, progress=False)
    assert report.passed  # a model against itself: every drop is 0
