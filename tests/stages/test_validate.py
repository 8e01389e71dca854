"""validate: per-task drops with paired intervals; a candidate damaged on one task fails exactly that task."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import WrappedRunner

from edgeus.backends.base import Runner
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.profiles import load_profile
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.models import create_model, model_spec
from edgeus.stages.validate import validate


class ScrambledRunner(WrappedRunner, Runner):
    """Wraps a runner and scrambles one task's output (shifts the mask far off / swaps class scores)."""

    backend = "test-damaged"

    def __init__(self, inner: Runner, prompt: np.ndarray, output: str, nan: bool = False, only_first: bool = False) -> None:
        super().__init__(f"damaged:{inner.name}")
        self.inner, self.prompt, self.output, self.nan, self.only_first = inner, prompt, output, nan, only_first
        self.damaged = 0

    def _infer(self, feeds):
        out = dict(self.inner.infer(feeds))
        hit = np.all(feeds["prompt"] == self.prompt, axis=1)
        if self.only_first:  # one image of the task, once: a single decision flip
            hit &= np.cumsum(hit) == 1 if self.damaged == 0 else False
        self.damaged += int(hit.sum())
        if hit.any():
            value = out[self.output].copy()
            if self.nan:
                value[hit] = np.nan
            elif value.ndim == 4:
                value[hit] = np.roll(value[hit], 90, axis=(2, 3))
            else:
                value[hit] = value[hit][:, ::-1]
            out[self.output] = value
        return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("val") / "ph"
    generate_phantom(root, per_task=6, seed=11, splits=("val", "external"))
    spec = model_spec("uniusnet-small")
    splits = {"internal": read_dataset(root / "val").samples, "external": read_dataset(root / "external").samples}
    return spec, splits, create_model("uniusnet-small")


def _reference(model, spec):
    return TorchRunner(model, spec, threads=2, name="reference")


def test_identical_candidate_passes_with_zero_drops(setup):
    spec, splits, model = setup
    budgets = load_profile("cpu-x86-scanner").budgets.accuracy_drop
    report = validate(_reference(model, spec), _reference(model, spec), spec, splits, budgets)
    assert report.passed and not report.inconclusive
    for split in report.splits.values():
        assert len(split.tasks) == 9  # the challenge's tasks: Breast and Breast_luminal masks pooled
        assert split.tasks["Breast_all/segmentation"].rows == ["Breast/segmentation", "Breast_luminal/segmentation"]
        assert split.tasks["Breast_all/segmentation"].n == 12
        assert all(g["state"] == "pass" for g in (*split.worst.values(), *split.macro.values()))
        for task in split.tasks.values():
            for m in task.metrics.values():
                assert m.drop == pytest.approx(0.0, abs=1e-12) or m.drop is None
                assert m.reference_ci[0] is None or m.reference_ci[0] <= m.reference <= m.reference_ci[1] + 1e-9


@pytest.mark.parametrize("target", [("Kidney", "segmentation"), ("Liver", "classification")])
def test_damaging_one_task_fails_exactly_that_task(setup, target):
    spec, splits, model = setup
    catalog = spec.task_catalog()
    task = catalog.task(*target)
    budgets = load_profile("cpu-x86-scanner").budgets.accuracy_drop
    damaged = ScrambledRunner(_reference(model, spec), catalog.prompt(task), task.output)
    report = validate(_reference(model, spec), damaged, spec, {"internal": splits["internal"]}, budgets)
    assert not report.passed
    failed = report.failed_tasks()["internal"]
    assert failed == [task.key], failed
    t = report.splits["internal"].tasks[task.key]
    metric = "dsc" if task.kind == "segmentation" else "auc"
    assert t.metrics[metric].drop > budgets.dsc_worst
    assert t.metrics[metric].drop_ci[0] is not None


def test_a_single_flipped_decision_is_inconclusive_not_a_failure(setup):
    """One of six Liver images changes class: ACC drop 1/6 > budget, but the paired CI includes 0."""
    spec, splits, model = setup
    catalog = spec.task_catalog()
    task = catalog.task("Liver", "classification")
    budgets = load_profile("cpu-x86-scanner").budgets.accuracy_drop
    flipped = ScrambledRunner(_reference(model, spec), catalog.prompt(task), task.output, only_first=True)
    report = validate(_reference(model, spec), flipped, spec, {"internal": splits["internal"]}, budgets)
    acc = report.splits["internal"].tasks[task.key].metrics["acc"]
    assert abs(acc.drop) == pytest.approx(1 / 6)
    assert acc.drop_ci[0] <= 0 <= acc.drop_ci[1]
    assert acc.state == "inconclusive" and acc.passed is None
    assert acc.images_needed[task.key] > 6 and "images would move" in acc.reason
    assert report.passed  # no gate failed ...
    assert "internal: worst-task acc" in report.inconclusive  # ... but the worst-task ACC gate cannot decide
    from edgeus.pipeline.verdicts import accuracy_verdicts, all_passed

    verdicts = accuracy_verdicts(report)
    assert all_passed(verdicts) and not all_passed(verdicts, strict=True)


def test_nan_outputs_are_detected(setup):
    spec, splits, model = setup
    catalog = spec.task_catalog()
    task = catalog.task("Thyroid", "segmentation")
    damaged = ScrambledRunner(_reference(model, spec), catalog.prompt(task), task.output, nan=True)
    report = validate(_reference(model, spec), damaged, spec, {"internal": splits["internal"]},
                      load_profile("cpu-x86-scanner").budgets.accuracy_drop)
    t = report.splits["internal"].tasks[task.key]
    assert t.fidelity["non_finite_outputs"] and not t.passed
