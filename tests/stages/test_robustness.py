"""The robustness stage: severity 0 is the validation exactly and an identical candidate has no extra drop. (A
real INT8 model calibrated on bright images failing the gain gate: tests/pipeline/test_robustness_search.py.)"""

from __future__ import annotations

import pytest

from edgeus.backends.torch import TorchRunner
from edgeus.contracts.profiles import load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.models import create_model, model_spec
from edgeus.stages.robustness import robustness, shift_grid
from edgeus.stages.validate import validate


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
