"""Which plans a target can run: its spec-sheet features decide, never the build machine's alone."""

import pytest

from edgeus.contracts.plans import AUTO, all_plans, candidate_plans, plan_named
from edgeus.contracts.profiles import Backend, load_profile
from edgeus.errors import ProfileError

SAPPHIRE_RAPIDS_HOST = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16"]
AVX2_HOST = ["avx2"]


def names(choice):
    return [p.name for p in choice.candidates]


def test_a_tiger_lake_scanner_never_gets_bf16_even_when_the_build_host_has_amx():
    choice = candidate_plans(load_profile("cpu-x86-scanner"), "auto", SAPPHIRE_RAPIDS_HOST)
    assert names(choice) == ["fp32", "int8", "int8-hint", "int8-auto", "ort-fp32", "ort-int8", "ort-int8-hint"]
    assert "bf16" in choice.excluded["bf16"] and "Tiger Lake" in choice.excluded["int8-auto+bf16"]
    with pytest.raises(ProfileError, match="plan 'bf16' cannot run for profile cpu-x86-scanner.*bf16"):
        candidate_plans(load_profile("cpu-x86-scanner"), "bf16", SAPPHIRE_RAPIDS_HOST)


def test_a_bf16_target_gets_bf16_plans_only_where_they_can_be_measured():
    profile = load_profile("cpu-x86-cart-spr")
    here = candidate_plans(profile, "auto", SAPPHIRE_RAPIDS_HOST)
    assert {"bf16", "int8-auto+bf16", "int8+bf16", "int8-auto"} <= set(names(here))
    elsewhere = candidate_plans(profile, "auto", AVX2_HOST)
    assert "bf16" not in names(elsewhere)
    assert "this build machine needs bf16" in elsewhere.excluded["bf16"]


def test_pinned_and_unknown_plans():
    profile = load_profile("cpu-x86-scanner")
    pinned = candidate_plans(profile, "int8-hint", AVX2_HOST)
    assert pinned.pinned and names(pinned) == ["int8-hint"]
    with pytest.raises(ProfileError, match="unknown plan 'int9'.*did you mean int8"):
        candidate_plans(profile, "int9", AVX2_HOST)
    # ONNX Runtime has no automatic scope (it reverts quantizers of NNCF's OpenVINO graph) and no bf16
    assert [p.name for p in all_plans(Backend.onnxruntime)] == ["fp32", "int8", "int8-hint"]
    with pytest.raises(ProfileError, match="unknown plan 'bf16' for the onnxruntime backend"):
        plan_named(Backend.onnxruntime, "bf16")


def test_tensorrt_targets_have_their_profile_precision_as_the_one_plan():
    choice = candidate_plans(load_profile("jetson-orin-nano"), "auto", SAPPHIRE_RAPIDS_HOST)
    assert names(choice) == ["int8-hint"] and choice.pinned
    assert names(candidate_plans(load_profile("uusic25-server"), "auto", AVX2_HOST)) == ["fp16"]


def test_a_plan_carries_its_precisions():
    plan = plan_named(Backend.openvino, "int8-auto+bf16")
    assert (plan.compute, plan.scope, plan.islands, plan.float_compute, plan.precision.value) == \
        ("int8", "auto", "bf16", "bf16", "int8")
    bf16 = plan_named(Backend.openvino, "bf16")
    assert (bf16.float_compute, bf16.precision.value) == ("bf16", "fp32")


def test_a_profile_pinning_an_unknown_plan_is_refused_naming_the_file(tmp_path):
    from edgeus.contracts.profiles import BUILTIN_PROFILES_DIR

    text = (BUILTIN_PROFILES_DIR / "cpu-x86-scanner.toml").read_text()
    text = text.replace('name = "cpu-x86-scanner"', 'name = "pinned"').replace('precision = "int8"',
                                                                              'precision = "int8"\nplan = "int9"')
    (tmp_path / "pinned.toml").write_text(text)
    with pytest.raises(ProfileError, match="pinned.toml: plan: unknown plan 'int9'"):
        load_profile(tmp_path / "pinned.toml")


def test_a_profile_may_weigh_several_runtimes():
    """The x86 profiles allow ONNX Runtime beside OpenVINO: its plans carry the runtime in their name, pin by
    that name, and a plan named plainly on a profile whose own runtime it is resolves to that plan."""
    from edgeus.contracts.plans import plan_of_profile, profile_plans

    scanner = load_profile("cpu-x86-scanner")
    plans = {p.name: p for p in profile_plans(scanner)}
    assert plans["ort-int8"].backend is Backend.onnxruntime and plans["int8"].backend is Backend.openvino
    assert "ort-int8-auto" not in plans  # the automatic float scope edits NNCF's OpenVINO graph
    pinned = candidate_plans(scanner, "ort-int8", AVX2_HOST)
    assert names(pinned) == ["ort-int8"] and pinned.candidates[0].backend is Backend.onnxruntime
    handheld = load_profile("cpu-arm-handheld")  # ONNX Runtime alone: "ort-int8" is its own "int8"
    assert plan_of_profile(handheld, "ort-int8").name == "int8"
    assert [p.name for p in profile_plans(handheld)] == ["fp32", "int8", "int8-hint"]


def test_tensorrt_is_never_weighed_against_other_runtimes(tmp_path):
    from edgeus.contracts.profiles import profile_dirs

    source = next(d / "jetson-orin-nano.toml" for d in profile_dirs() if (d / "jetson-orin-nano.toml").is_file())
    text = source.read_text().replace('backend = "tensorrt"\n',
                                      'backend = "tensorrt"\nbackends = ["tensorrt", "onnxruntime"]\n', 1)
    path = tmp_path / "jetson-orin-nano.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match="backends: TensorRT builds its engine on the device"):
        load_profile(path)


def test_executorch_fp16_is_a_plan_where_the_phone_has_fp16_arithmetic_and_is_measured_only_where_it_is_too():
    phone = load_profile("phone-android-sd8g2")
    assert "fphp" in phone.hardware.cpu_features
    here = candidate_plans(phone, AUTO, ["avx2", "avx512f"])  # an x86 build machine without AVX512-FP16
    assert "fp16" not in [p.name for p in here.candidates]
    assert "this build machine needs f16 arithmetic" in here.excluded["fp16"]
    arm = candidate_plans(phone, AUTO, ["asimd", "asimddp", "fphp", "i8mm", "bf16"])  # an ARM farm device
    assert [p.name for p in arm.candidates][:2] == ["fp32", "fp16"]


def test_core_mls_plans_are_one_per_build_and_w8a8_is_int8_calibrated_on_the_mac():
    assert [p.name for p in all_plans(Backend.coreml)] == ["fp16", "w8", "p6", "w8a8"]
    w8a8 = plan_named(Backend.coreml, "w8a8")
    assert w8a8.precision.value == "int8" and w8a8.float_compute == "f16"
    tablet = load_profile("tablet-ios-a17pro")
    assert [p.name for p in candidate_plans(tablet, "w8a8", []).candidates] == ["w8a8"]
