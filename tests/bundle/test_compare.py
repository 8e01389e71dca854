"""edgeus compare: one table, a Pareto plot, Markdown/CSV/JSON, optional leaderboard reference points."""

from __future__ import annotations

import csv
import json

from conftest import assert_one_line_error

from edgeus.bundle.compare import compare
from edgeus.report.plots import pareto_front


def test_compare_two_cpu_bundles(x86_bundle, arm_bundle, tmp_path, run_cli):
    code, out, _ = run_cli("compare", x86_bundle, arm_bundle, "-o", tmp_path / "cmp", "--leaderboard")
    assert code == 0
    assert "cpu-x86-scanner" in out and "cpu-arm-handheld" in out
    folder = tmp_path / "cmp"
    rows = json.loads((folder / "compare.json").read_text())
    assert [r["profile"] for r in rows] == ["cpu-x86-scanner", "cpu-arm-handheld"]
    assert [r["backend"] for r in rows] == ["openvino", "onnxruntime"]
    from edgeus.bundle.compare import verdict_text

    for r, bundle in zip(rows, (x86_bundle, arm_bundle), strict=True):
        assert r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] and r["fps"] > 0 and r["peak_memory_mb"] > 0
        assert 0 < r["macro_dsc"] <= 1 and 0 < r["score"] <= 1
        manifest = json.loads((bundle / "manifest.json").read_text())
        # the row says what the bundle's own verdicts say: pass exactly when the manifest passed, naming the gates
        assert r["verdict"] == verdict_text(manifest)
        assert r["verdict"].startswith("pass") == manifest["passed"]
        failed = [v["item"] for v in manifest["verdicts"] if v["state"] == "fail"]
        assert all(item in r["verdict"] for item in failed)
    with open(folder / "compare.csv") as fh:
        assert [r["profile"] for r in csv.DictReader(fh)] == ["cpu-x86-scanner", "cpu-arm-handheld"]
    md = (folder / "compare.md").read_text()
    assert md.startswith("| bundle | profile |") and "pareto.png" in md and "UUSIC25 published" in md
    assert (folder / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli("compare", x86_bundle, "-o", folder)
    assert_one_line_error(code, err, "exists", "--force")


def test_compare_says_when_the_evidence_is_synthetic(x86_bundle, arm_bundle, tmp_path, run_cli):
    code, out, err = run_cli("compare", "--json", x86_bundle, arm_bundle, "-o", tmp_path / "cmp")
    assert code == 0, err
    rows = json.loads(out)  # '--json BUNDLE': the bundle stays an argument, stdout holds the JSON alone
    assert [r["evidence"] for r in rows] == ["synthetic (phantom, seed 5)"] * 2
    assert "Evidence is synthetic for 2 of 2 bundles" in err
    assert "Evidence is synthetic for 2 of 2 bundles" in (tmp_path / "cmp" / "compare.md").read_text()
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())[0]["evidence"].startswith("synthetic")


def test_verdict_names_the_failed_items():
    from edgeus.bundle.compare import verdict_text

    failed = {"passed": False, "verdicts": [
        {"item": "latency p95 (compute, batch 1)", "passed": True},
        {"item": "external: worst-task ACC drop (Liver/classification)", "passed": False}]}
    assert verdict_text(failed) == "FAIL: external: worst-task ACC drop (Liver/classification)"
    assert verdict_text({"passed": True, "verdicts": []}) == "pass"
    warned = {"passed": True, "verdicts": [{"item": "internal: macro AUC drop", "passed": None, "state": "inconclusive"}]}
    assert verdict_text(warned) == "pass (1 inconclusive: internal: macro AUC drop)"
    strict = {"passed": False, "verdicts": [{"item": "internal: macro AUC drop", "passed": None, "state": "inconclusive"}]}
    assert verdict_text(strict) == "FAIL: internal: macro AUC drop (inconclusive, strict)"


def test_pareto_front():
    points = [{"latency_ms": 10, "score": 0.5}, {"latency_ms": 20, "score": 0.7}, {"latency_ms": 30, "score": 0.6},
              {"latency_ms": 5, "score": 0.4}]
    assert [p["latency_ms"] for p in pareto_front(points)] == [5, 10, 20]


def test_compare_rejects_what_is_not_a_bundle(tmp_path, run_cli):
    code, _, err = run_cli("compare", tmp_path)
    assert_one_line_error(code, err, "no manifest.json")
    rows, _ = compare([])
    assert rows == []
