from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from conftest import assert_one_line_error

from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR, list_profiles, load_profile, load_profile_file
from edgeus.errors import ProfileError

SHIPPED = {"uusic25-server", "dgpu-rtx", "jetson-orin-nano", "jetson-agx-orin", "cpu-x86-scanner", "cpu-arm-handheld"}


def test_all_shipped_profiles_load_and_set_every_budget():
    profiles = {p.name: p for p in list_profiles()}
    assert SHIPPED <= set(profiles)
    for p in profiles.values():
        b = p.budgets
        assert b.latency_p95_ms > 0 and b.min_fps > 0 and b.peak_memory_mb > 0 and b.model_size_mb > 0
        drops = b.accuracy_drop.model_dump()
        assert set(drops) == {f"{m}_{s}" for m in ("dsc", "nsd", "auc", "acc") for s in ("macro", "worst")}
        assert all(v is not None for v in drops.values())
        assert p.hardware.source


def test_uusic25_server_carries_the_winners_budget():
    p = load_profile("uusic25-server")
    assert p.budgets.test_set.images == 2479 and p.budgets.test_set.seconds == pytest.approx(36.03)
    assert p.budgets.peak_memory_mb == 590 and p.budgets.memory_scope == "gpu"
    assert p.budgets.latency_p95_ms == pytest.approx(36.03 / 2479 * 1000, abs=0.01)


def test_jetson_profiles_build_on_device_and_cpu_profiles_use_cpu_backends():
    assert load_profile("jetson-orin-nano").runtime.tensorrt.build_on_device
    assert load_profile("jetson-agx-orin").runtime.tensorrt.dla_core == 0
    assert load_profile("cpu-x86-scanner").backend.value == "openvino"
    assert load_profile("cpu-arm-handheld").backend.value == "onnxruntime"


def _write_variant(tmp_path: Path, mutate) -> Path:
    raw = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    path = tmp_path / "cpu-x86-scanner.toml"
    path.write_text(mutate(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda s: s.replace("min_fps = 10", "min_fps = 10\nmin_fsp = 3"), ["budgets.min_fsp", "unknown key"]),
        (lambda s: s.replace("threads = 4", 'threads = "four"'), ["runtime.threads"]),
        (lambda s: s.replace("model_size_mb = 80\n", ""), ["budgets.model_size_mb", "missing"]),
        (lambda s: s.replace('backend = "openvino"', 'backend = "tflite"'), ["backend"]),
        (lambda s: s.replace("[budgets]", "[budgets"), ["not valid TOML"]),
        (lambda s: s.replace("[budgets.accuracy_drop]", '[budgets.robustness]\nfamilies = ["gain", "glare"]\n\n'
                                                         "[budgets.accuracy_drop]"),
         ["budgets.robustness.families.1", "'glare'", "'motion_blur'"]),
        (lambda s: s.replace("[budgets.accuracy_drop]", "[budgets.robustness]\nmax_severity = -1\n\n"
                                                         "[budgets.accuracy_drop]"),
         ["budgets.robustness.max_severity", "greater than or equal to 1"]),
    ],
    ids=["unknown-key", "wrong-type", "missing-field", "bad-enum", "bad-toml", "unknown-shift-family",
         "negative-severity"],
)
def test_malformed_profile_names_file_and_key(tmp_path, mutate, needles):
    path = _write_variant(tmp_path, mutate)
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_name_must_match_file(tmp_path):
    path = _write_variant(tmp_path, lambda s: s)
    renamed = path.rename(tmp_path / "other.toml")
    with pytest.raises(ProfileError, match="must match the file name"):
        load_profile_file(renamed)


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ProfileError) as info:
        load_profile("jetson-orin-nanoo")
    assert "jetson-orin-nano" in str(info.value) and "cpu-x86-scanner" in str(info.value)


def test_extra_profiles_dir_and_env(tmp_path, monkeypatch):
    extra = tmp_path / "mine"
    extra.mkdir()
    raw = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    (extra / "my-tablet.toml").write_text(raw.replace('name = "cpu-x86-scanner"', 'name = "my-tablet"'))
    assert load_profile("my-tablet", [extra]).name == "my-tablet"
    monkeypatch.setenv("EDGEUS_PROFILES_DIR", str(extra))
    assert "my-tablet" in {p.name for p in list_profiles()}


def test_cli_profiles_list_shows_six(run_cli):
    code, out, _ = run_cli("profiles", "list")
    assert code == 0
    for name in SHIPPED:
        assert name in out


def test_cli_profiles_show_json_roundtrips(run_cli):
    code, out, _ = run_cli("profiles", "show", "jetson-orin-nano", "--json")
    assert code == 0
    data = json.loads(out)
    expected = tomllib.loads((BUILTIN_PROFILES_DIR / "jetson-orin-nano.toml").read_text())
    assert data["budgets"]["latency_p95_ms"] == expected["budgets"]["latency_p95_ms"]
    assert data["runtime"]["tensorrt"]["build_on_device"] is True


def test_cli_bad_profile_is_one_line(run_cli, tmp_path):
    assert_one_line_error(*run_cli("profiles", "show", "nope")[::2], "unknown profile", "cpu-x86-scanner")
    bad = _write_variant(tmp_path, lambda s: s.replace("min_fps = 10", "min_fps = 10\nmin_fsp = 3"))
    assert_one_line_error(*run_cli("profiles", "show", str(bad))[::2], "budgets.min_fsp")
    assert_one_line_error(*run_cli("profiles", "list", "--profiles-dir", str(tmp_path / "none"))[::2], "does not exist")


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda s: s.replace("latency_p95_ms = 100", "latency_p95_ms = inf"), ["budgets.latency_p95_ms", "finite"]),
        (lambda s: s.replace("latency_p95_ms = 100", "latency_p95_ms = nan"), ["budgets.latency_p95_ms", "finite"]),
        (lambda s: s.replace("latency_p95_ms = 100", 'latency_p95_ms = "100"'), ["budgets.latency_p95_ms", "valid number"]),
        (lambda s: s.replace("latency_p95_ms = 100", "latency_p95_ms = 1e9"), ["latency_p95_ms", "ten minutes"]),
        (lambda s: s.replace("latency_p95_ms = 100", "latency_p95_ms = -5"), ["latency_p95_ms", "greater than 0"]),
        (lambda s: s.replace("threads = 4", "threads = 100000"), ["runtime.threads", "at most 1024"]),
        (lambda s: s.replace("threads = 4", "threads = 4.0"), ["runtime.threads", "valid integer"]),
        (lambda s: s.replace("batch_sizes = [1, 8]", "batch_sizes = [0, -8]"), ["runtime.batch_sizes", "greater than 0"]),
        (lambda s: s.replace("batch_sizes = [1, 8]", "batch_sizes = [1, 100000]"), ["batch_sizes", "at most 4096"]),
        (lambda s: s.replace("batch_sizes = [1, 8]", "batch_sizes = []"), ["batch_sizes"]),
        (lambda s: s.replace("dsc_worst = 0.01", "dsc_worst = -0.01"), ["dsc_worst", "greater than or equal to 0"]),
        (lambda s: s.replace("dsc_worst = 0.01", "dsc_worst = 2"), ["dsc_worst", "fractions"]),
        (lambda s: s.replace("min_fps = 10", "min_fps = true"), ["budgets.min_fps"]),
        (lambda s: s.replace("[budgets.accuracy_drop]", "strict = \"yes\"\n\n[budgets.accuracy_drop]"),
         ["budgets.strict", "valid boolean"]),
    ],
    ids=["inf", "nan", "string-number", "absurd-latency", "negative-latency", "threads-100000", "float-threads",
         "batch-zero-negative", "batch-huge", "batch-empty", "negative-drop", "drop-over-1", "bool-fps", "strict-string"],
)
def test_budget_and_runtime_numbers_are_strict(tmp_path, mutate, needles, run_cli):
    path = _write_variant(tmp_path, mutate)
    assert path.read_text() != (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    code, _, err = run_cli("profiles", "show", path)
    assert_one_line_error(code, err, needles[0])



def test_cpu_features_come_from_a_known_vocabulary(tmp_path):
    assert load_profile("cpu-x86-scanner").hardware.cpu_features == ["avx2", "avx512f", "avx512_vnni"]
    assert load_profile("cpu-arm-handheld").hardware.cpu_features == ["asimd", "asimddp", "fphp"]
    assert load_profile("uusic25-server").hardware.cpu_features is None  # not published
    path = _write_variant(tmp_path, lambda s: s.replace('"avx512_vnni"]', '"avx512_vnni", "avx1024"]'))
    with pytest.raises(ProfileError, match="cpu_features"):
        load_profile_file(path)


def test_performance_verdicts_name_features_the_target_lacks():
    import platform

    from edgeus.pipeline.verdicts import features_beyond_target

    x86 = load_profile("cpu-x86-scanner")
    if platform.machine() == "x86_64":
        assert features_beyond_target(x86, ["avx2", "avx512_vnni", "avx512_bf16", "amx_int8", "sse4_2"]) == [
            "avx512_bf16", "amx_int8"]  # a Sapphire Rapids host timing a Tiger Lake scanner
        assert features_beyond_target(x86, ["avx2", "avx512_vnni"]) == []
    assert features_beyond_target(load_profile("uusic25-server"), ["amx_bf16"]) == []  # target publishes none


def test_an_arm_cpu_model_must_be_a_core_edgeus_can_emulate(tmp_path, run_cli):
    assert load_profile("cpu-arm-handheld").hardware.cpu_model == "cortex-a76"
    text = (BUILTIN_PROFILES_DIR / "cpu-arm-handheld.toml").read_text().replace('"cortex-a76"', '"cortex-a99"')
    (tmp_path / "cpu-arm-handheld.toml").write_text(text)
    code, _, err = run_cli("profiles", "show", str(tmp_path / "cpu-arm-handheld.toml"))
    assert_one_line_error(code, err, "hardware.cpu_model", "cortex-a99", "cortex-a76")
