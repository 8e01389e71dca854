"""The device farm on a real Ray cluster on loopback: a head (Ray's own ``ray start --head``) and two
``edgeus farm agent`` processes, each with a different fake device identity (EDGEUS_FARM_IDENTITY), so one
serves the x86 scanner profile and the other the ARM handheld."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from farm_cluster import SCANNER, TARGETS, Farm, _env

pytest.importorskip("ray")


@pytest.fixture
def farm(tmp_path):
    farm = Farm(tmp_path)
    try:
        yield farm
    finally:
        farm.stop()


def _build(farm: Farm, data: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeus", "build", "--target", TARGETS, "--farm", farm.address,
                           "--data", str(data), "-o", str(out), "--threads", "2", "--plan", "int8-hint",
                           "--no-robustness"],  # robustness is a stage like any other: tests/pipeline covers it
                          capture_output=True, text=True, env=_env(), timeout=1200)


def _untimed(record):
    """A stage record without what was measured (compile times, cache load times)."""
    if isinstance(record, dict):
        return {k: _untimed(v) for k, v in record.items() if k not in ("time_s", "with_cache", "without_cache", "cold_start_s")}
    if isinstance(record, list):
        return [_untimed(v) for v in record]
    return record


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_targets_are_built_each_on_its_own_device(farm, small_phantom, x86_bundle, arm_bundle, tmp_path):
    status = subprocess.run([sys.executable, "-m", "edgeus", "farm", "status", "--address", farm.address, "--json", "-"],
                            capture_output=True, text=True, env=_env(), timeout=300)
    assert status.returncode == 0, status.stderr
    nodes = json.loads(status.stdout)  # stdout holds the JSON alone, whatever Ray prints
    served = {n["identity"]["name"]: n["profiles"] for n in nodes if n["identity"]}
    assert served == {"scanner-a": ["cpu-x86-scanner"], "handheld-b": ["cpu-arm-handheld"]}

    result = _build(farm, small_phantom, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    # export and quantize ran once, on one worker, and both devices built from those stages
    assert "export + quantize: submitted (once, for cpu-x86-scanner, cpu-arm-handheld)" in result.stdout
    for target in TARGETS.split(","):
        assert f"{target}: bundle" in result.stdout and "(export, quantize from the shared stages)" in result.stdout
    cache = tmp_path / "out" / ".edgeus-cache"
    assert len(list(cache.glob("export-*"))) == 1 and len(list(cache.glob("quantize-*"))) == 2  # OpenVINO, ORT
    for local, device in ((x86_bundle, "scanner-a"), (arm_bundle, "handheld-b")):
        farmed = tmp_path / "out" / local.name
        perf = json.loads((farmed / "perf.json").read_text())
        assert perf["device"]["name"] == device  # the profile stage ran on that worker
        verdicts = json.loads((farmed / "verdicts.json").read_text())
        assert any(f"measured on {device}" in v.get("note", "") for v in verdicts["verdicts"] if v["unit"] == "ms")
        verify = subprocess.run([sys.executable, "-m", "edgeus", "verify", str(farmed)], capture_output=True,
                                text=True, env=_env(), timeout=300)
        assert verify.returncode == 0, verify.stderr
        # the same bundle as a local build, except what was measured
        ours = json.loads((farmed / "manifest.json").read_text())["files"]
        theirs = json.loads((local / "manifest.json").read_text())["files"]
        models = [name for name in theirs if name.startswith("model/") and not name.endswith(".json")]
        assert models and all(ours[name]["sha256"] == theirs[name]["sha256"] for name in models)
        for record in (p for p in theirs if p.startswith("model/") and p.endswith(".json")):  # compile.json ...
            assert _untimed(json.loads((farmed / record).read_text())) == _untimed(json.loads((local / record).read_text()))
        assert _digest(farmed / "conformance/vectors.npz") == _digest(local / "conformance/vectors.npz")
        acc_farm, acc_local = (json.loads((b / "accuracy.json").read_text()) for b in (farmed, local))
        assert acc_farm["splits"] == acc_local["splits"]
    # edgeus compare over the farmed bundles names the device each was measured on
    farmed = [tmp_path / "out" / b.name for b in (x86_bundle, arm_bundle)]
    compared = subprocess.run([sys.executable, "-m", "edgeus", "compare", *map(str, farmed), "-o", str(tmp_path / "cmp")],
                              capture_output=True, text=True, env=_env(), timeout=300)
    assert compared.returncode == 0, compared.stderr
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["measured_on"].split(" (")[0] for r in rows] == ["scanner-a", "handheld-b"]


@pytest.mark.slow  # two more farm builds (~2 min on 2 cores); run with pytest -m slow
def test_a_device_lost_mid_build_fails_only_its_target(farm, small_phantom, tmp_path):
    out = tmp_path / "out"
    build = subprocess.Popen([sys.executable, "-m", "edgeus", "build", "--target", TARGETS, "--farm", farm.address,
                              "--data", str(small_phantom), "-o", str(out), "--threads", "2", "--plan", "int8-hint",
                              "--no-robustness"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(20)  # both builds are under way (a build takes well over a minute here)
    farm.kill("b")
    stdout, stderr = build.communicate(timeout=1200)
    assert_one_line_error(build.returncode, stderr, "target(s) failed: cpu-arm-handheld",
                          "no other device serves this profile")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "uniusnet-small-cpu-x86-scanner-int8-hint"]  # the other target complete; nothing of the lost one
    assert "done" in stdout and "failed" in stdout


@pytest.mark.slow  # one more farm build with a device change mid-way (~3 min on 2 cores); pytest -m slow
def test_a_device_lost_mid_build_is_replaced_by_another_of_its_profile(tmp_path, small_phantom):
    """Only scanner-a1 serves the scanner profile when the build starts; a second scanner joins, a1 dies: the
    work (the shared stages or the target's build, whichever a1 was running) is retried on scanner-a2 and the
    bundle comes back whole, measured there."""
    farm = Farm(tmp_path, agents=(("a1", {**SCANNER, "name": "scanner-a1"}, "cpu-x86-scanner"),))
    try:
        out = tmp_path / "out"
        build = subprocess.Popen([sys.executable, "-m", "edgeus", "build", "--target", "cpu-x86-scanner", "--farm",
                                  farm.address, "--data", str(small_phantom), "-o", str(out), "--threads", "2",
                                  "--plan", "int8-hint", "--no-robustness"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=_env())
        time.sleep(15)  # under way on scanner-a1
        farm.start_agent("a2", {**SCANNER, "name": "scanner-a2"}, "cpu-x86-scanner")
        farm.kill("a1")
        stdout, stderr = build.communicate(timeout=1200)
        assert build.returncode == 0, stdout + stderr
        bundle = out / "uniusnet-small-cpu-x86-scanner-int8-hint"
        assert json.loads((bundle / "perf.json").read_text())["device"]["name"] == "scanner-a2"
        verify = subprocess.run([sys.executable, "-m", "edgeus", "verify", str(bundle)], capture_output=True,
                                text=True, env=_env(), timeout=300)
        assert verify.returncode == 0, verify.stderr
    finally:
        farm.stop()
