"""A build measures the shipped plan under ultrasound shifts: robustness.json in the bundle (clean numbers =
the validation's on the same images), a report section with a figure per family, verdicts only where the
profile gates robustness."""

from __future__ import annotations

import json

from edgeus.contracts.profiles import RobustnessBudget
from edgeus.pipeline.robustness import robustness_verdicts, summary


def test_the_bundle_carries_robustness_under_shift(x86_bundle):
    report = json.loads((x86_bundle / "robustness.json").read_text())
    manifest = json.loads((x86_bundle / "manifest.json").read_text())
    assert "robustness.json" in manifest["files"]
    families = {f for f, _ in report["shifts"]}
    assert {"gain", "tgc", "speckle", "jpeg"} <= families and report["images"] > 0
    assert report["computed_on"]["isa"] and report["computed_on"]["cpu"]  # where the figures came from
    assert report["budget"] is None  # the scanner's profile measures robustness, it does not gate it
    assert not any(v["item"].startswith("robustness") for v in manifest["verdicts"])
    accuracy = json.loads((x86_bundle / "accuracy.json").read_text())["splits"]["internal"]["tasks"]
    for d in report["drops"]:  # clean numbers: the validation's, on the same (confirm) images
        metric = accuracy[d["task"]]["metrics"][d["metric"]]
        assert d["reference_clean"] == metric["reference"] and d["candidate_clean"] == metric["candidate"]
    text = (x86_bundle / "report.md").read_text()
    assert "## Robustness under ultrasound shift" in text and "robustness-gain.png" in text
    assert (x86_bundle / "report" / "robustness-gain.png").read_bytes()[:4] == b"\x89PNG"
    assert summary(report).startswith("robustness under shift (")


def test_a_gated_family_becomes_a_verdict():
    drop = {"family": "gain", "severity": 3, "task": "Kidney/segmentation", "metric": "dsc", "extra_drop": 0.2,
            "budget": 0.03, "ci": [0.1, 0.3], "state": "fail", "reason": "drop 0.2 > budget"}
    verdicts = robustness_verdicts({"drops": [drop, {**drop, "family": "jpeg", "budget": None}]},
                                   RobustnessBudget(families=["gain"], max_severity=3))
    assert [v.item for v in verdicts] == ["robustness: gain (severity <= 3), extra drop beyond fp32"]
    assert verdicts[0].state == "fail" and "Kidney/segmentation DSC at severity 3" in verdicts[0].note
    assert robustness_verdicts({"drops": [drop]}, None) == []


def test_robustness_cannot_be_skipped_where_the_profile_gates_it(tmp_path, run_cli):
    from conftest import assert_one_line_error

    from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR

    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    text = text.replace("[budgets.accuracy_drop]", "[budgets.robustness]\nfamilies = [\"gain\"]\n\n[budgets.accuracy_drop]")
    (tmp_path / "cpu-x86-scanner.toml").write_text(text)
    code, _, err = run_cli("build", "--target", tmp_path / "cpu-x86-scanner.toml", "--no-robustness",
                           "-o", tmp_path / "out")
    assert_one_line_error(code, err, "gates robustness under shift", "cannot be skipped")
    assert not (tmp_path / "out").exists()
