"""Which profiles a device may serve (farm/identity.py), and an agent that may serve none: no Ray needed."""

from __future__ import annotations

import json

from conftest import assert_one_line_error
from farm_cluster import HANDHELD, SCANNER

from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR, load_profile
from edgeus.farm.identity import mismatches, served_profiles


def test_each_fake_device_serves_its_own_profile_and_is_refused_the_other_with_reasons():
    assert served_profiles(SCANNER, ["cpu-x86-scanner", "cpu-arm-handheld"])[0] == ["cpu-x86-scanner"]
    assert served_profiles(HANDHELD, ["cpu-x86-scanner", "cpu-arm-handheld"])[0] == ["cpu-arm-handheld"]
    refused = served_profiles(SCANNER, ["cpu-arm-handheld"])[1]["cpu-arm-handheld"]
    assert any("architecture x86_64, the profile is aarch64" in r for r in refused)


def test_a_missing_feature_backend_or_gpu_is_named():
    no_vnni = {**SCANNER, "cpu_features": [f for f in SCANNER["cpu_features"] if f != "avx512_vnni"]}
    assert mismatches(load_profile("cpu-x86-scanner"), no_vnni) == ["CPU lacks avx512_vnni of the profile's spec sheet"]
    no_openvino = {**SCANNER, "backends": ["onnxruntime"]}
    assert mismatches(load_profile("cpu-x86-scanner"), no_openvino) == ["openvino is not installed"]
    jetson = mismatches(load_profile("jetson-orin-nano"), {**HANDHELD, "backends": ["tensorrt"]})
    assert any(r.startswith("no GPU") for r in jetson)


def test_profiles_of_an_extra_folder_are_served_too(tmp_path):
    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    (tmp_path / "ward-scanner.toml").write_text(text.replace('name = "cpu-x86-scanner"', 'name = "ward-scanner"'))
    served, _ = served_profiles(SCANNER, None, [tmp_path])
    assert "ward-scanner" in served and "cpu-x86-scanner" in served and "cpu-arm-handheld" not in served


def test_an_agent_that_serves_nothing_is_one_line_before_any_ray(run_cli, monkeypatch):
    monkeypatch.setenv("EDGEUS_FARM_IDENTITY", json.dumps(SCANNER))
    # port 9 (discard): nothing listens; the refusal must come before any connection is tried
    code, _, err = run_cli("farm", "agent", "--address", "127.0.0.1:9", "--profile", "cpu-arm-handheld")
    assert_one_line_error(code, err, "serves none of the profiles cpu-arm-handheld")


def test_a_core_ml_profile_is_served_by_a_mac_with_coremltools_and_refused_elsewhere_with_the_reason():
    """No agent runs on an iPad: a Mac finalizes its Core ML bundles (pipeline/coreml_finalize.py)."""
    mac = {"name": "mac-c", "arch": "arm64", "os": "Darwin", "cpu": "fake Apple M2", "cpu_features": [],
           "backends": ["coreml", "onnxruntime"]}
    assert served_profiles(mac, ["tablet-ios-a17pro", "cpu-arm-handheld"])[0] == ["tablet-ios-a17pro"]
    linux = {**HANDHELD, "os": "Linux", "backends": ["onnxruntime", "coreml"]}  # coremltools installs on Linux too
    assert mismatches(load_profile("tablet-ios-a17pro"), linux) == [
        "Core ML bundles are finalized on macOS; this device runs Linux"]
    assert mismatches(load_profile("tablet-ios-a17pro"), {**mac, "backends": []}) == [
        "coreml is not installed (coremltools)"]
