"""The robustness stage: severity 0 is the validation exactly, an identical candidate has no extra drop, and a
candidate that breaks on dark images (as an INT8 model calibrated on bright ones would) fails the gain family's
gate while its clean numbers equal the reference's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import WrappedRunner

from edgeus.backends.base import Runner
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.profiles import RobustnessBudget, load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.models import create_model, model_spec
from edgeus.stages.robustness import robustness, shift_grid
from edgeus.stages.validate import validate


class DarkFragileRunner(WrappedRunner, Runner):
    """The reference, except that images darker than ``threshold`` (mean of the normalised input) get their
    outputs scrambled: clean images pass, a gain shift breaks it."""

    backend = "test-fragile"

    def __init__(self, inner: Runner, threshold: float) -> None:
        super().__init__("fragile")
        self.inner, self.threshold = inner, threshold

    def _infer(self, feeds):
        out = {k: v.copy() for k, v in self.inner.infer(feeds).items()}
        dark = feeds["image"].reshape(len(feeds["image"]), -1).mean(axis=1) < self.threshold
        for name, value in out.items():
            if dark.any():
                value[dark] = np.roll(value[dark], 90, axis=(2, 3)) if value.ndim == 4 else value[dark][:, ::-1]
        return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("rob") / "ph"
    generate_phantom(root, per_task=3, seed=13, splits=("val",))
    spec = model_spec("uniusnet-small")
    return spec, read_dataset(root / "val").samples, create_model("uniusnet-small")


def _reference(model, spec):
    return TorchRunner(model, spec, threads=2, name="reference")


def test_severity_zero_is_the_validation_and_an_identical_model_loses_nothing_extra(setup):
    spec, samples, model = setup
    budgets = load_profile("cpu-x86-scanner").budgets.accuracy_drop
    validation = validate(_reference(model, spec), _reference(model, spec), spec, {"internal": samples}, budgets)
    report = robustness(_reference(model, spec), _reference(model, spec), spec, samples,
                        shift_grid(["speckle"], (0, 3)))
    for d in report.drops:
        metric = validation.splits["internal"].tasks[d.task].metrics[d.metric]
        assert d.reference_clean == metric.reference and d.candidate_clean == metric.candidate
        if d.severity == 0:
            assert d.reference_shifted == metric.reference and d.candidate_shifted == metric.candidate
        assert d.extra_drop in (0.0, None) and d.state in ("measured", "undefined")


def test_a_model_that_breaks_on_dark_images_fails_the_gain_gate(setup):
    spec, samples, model = setup
    budget = RobustnessBudget(families=["gain"], max_severity=5)
    # the preprocessed input's mean: clean images 0.109-0.328 here, under gain severity 5 0.027-0.082
    report = robustness(_reference(model, spec), DarkFragileRunner(_reference(model, spec), threshold=0.095), spec,
                        samples, shift_grid(["gain", "jpeg"], (0, 5)), budget)
    clean = [d for d in report.drops if d.severity == 0]
    assert all(d.extra_drop in (0.0, None) for d in clean)  # clean gates would pass: same numbers as fp32
    dark = [d for d in report.drops if d.family == "gain" and d.severity == 5]
    assert any(d.state == "fail" for d in dark) and not report.passed
    worst = report.worst()
    assert worst.family == "gain" and worst.severity == 5 and worst.extra_drop > 0.3
    jpeg = [d for d in report.drops if d.family == "jpeg"]
    assert all(d.budget is None and d.state in ("measured", "undefined") for d in jpeg)  # not a gated family


@pytest.mark.parametrize("args, needle", [(["--families", "gain,glare"], "unknown shift family 'glare'"),
                                          (["--severities", "1,-2"], "a whole number 0..5"),
                                          (["--severities", "one"], "--families/--severities")])
def test_bad_shifts_are_refused_before_any_model_loads(args, needle, run_cli, tmp_path):
    from conftest import assert_one_line_error

    code, _, err = run_cli("robustness", tmp_path / "missing-a.onnx", tmp_path / "missing-b.onnx",
                           "--target", "cpu-x86-scanner", *args)
    assert_one_line_error(code, err, needle)
