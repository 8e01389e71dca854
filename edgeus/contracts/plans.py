"""Deployment plans: the ways one model can run on one target, and which of them a target can run at all.

A plan is a precision, and for INT8 a float scope (which layers stay in float) and the precision those float
"islands" compute in:

=================  =======================================================================================
``fp32``           the exported model as it is
``bf16`` ``fp16``  the fp32 model computed in bfloat16 / float16 (OpenVINO inference precision)
``int8``           everything quantizable in INT8 (no float scope)
``int8-hint``      INT8 with the model spec's float patterns (``int8_float_patterns``): a hint from its authors
``int8-auto``      INT8 with the float scope the search found for this model and data (stages/scope_search.py)
``...+bf16``       the same INT8 with its float islands in bfloat16 (``int8-auto+bf16``), ``+fp16`` likewise
``w8`` ``p6``      Core ML: fp16 compute with weights stored as INT8 per channel / a 6-bit palette (data-free)
``w8a8``           Core ML: INT8 weights and activations, the activations calibrated on a Mac (finalize)
=================  =======================================================================================

A plan that computes in bf16 or fp16 needs the feature on the **target** (from its spec sheet,
``hardware.cpu_features``) and, to be measured, on the build machine too. ONNX Runtime's CPU provider has no
bf16/fp16 kernels worth the name, so its plans are fp32 and INT8. TensorRT plans are the profile's precision:
their speed is only known on the device (``edgeus finalize``); so are Core ML's (fp16, w8, p6: on a Mac).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from edgeus.contracts.kinds import Backend, Precision
from edgeus.errors import ProfileError

if TYPE_CHECKING:  # profiles import plans (to check a pinned plan); plans only name the profile type
    from edgeus.contracts.profiles import DeviceProfile

Compute = Literal["fp32", "bf16", "fp16", "int8", "w8", "p6", "w8a8"]  # w8 / p6 / w8a8: Core ML's compressions
Scope = Literal["none", "hint", "auto"]
Islands = Literal["f32", "bf16", "f16"]

# Any one of these CPU features runs the precision in hardware (x86: AVX-512-BF16 or AMX; ARM: BF16 / FP16
# arithmetic). Without one, OpenVINO silently computes in f32 and the plan is only a slower fp32.
PRECISION_FEATURES: dict[str, tuple[str, ...]] = {
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),
    "f16": ("avx512_fp16", "fphp"),
}
AUTO = "auto"


@dataclass(frozen=True)
class Plan:
    name: str
    backend: Backend
    compute: Compute             # the precision of the model's heavy layers
    scope: Scope | None = None   # INT8 only: which float scope
    islands: Islands = "f32"     # the compute precision of everything not in INT8

    @property
    def precision(self) -> Precision:
        """The precision the quantize stage produces (bf16 and fp16 compute from an fp32 / fp16 IR)."""
        return {"int8": Precision.int8, "fp16": Precision.fp16, "w8": Precision.fp16,
                "p6": Precision.fp16, "w8a8": Precision.int8}.get(self.compute, Precision.fp32)

    @property
    def float_compute(self) -> Islands:
        """OpenVINO's inference precision for this plan."""
        return {"bf16": "bf16", "fp16": "f16", "w8": "f16", "p6": "f16", "w8a8": "f16"}.get(  # type: ignore[return-value]
            self.compute, self.islands)

    def needs(self) -> str | None:
        """The reduced float precision this plan needs in hardware (None: none)."""
        return None if self.float_compute == "f32" else self.float_compute

    def to_dict(self) -> dict:
        return {"name": self.name, "backend": self.backend.value, "compute": self.compute, "scope": self.scope,
                "islands": self.islands, "float_compute": self.float_compute}


def _int8_plans(backend: Backend, islands: list[Islands], scopes=("none", "hint", "auto")) -> list[Plan]:
    plans = []
    for island in islands:
        for scope in scopes:
            base = "int8" if scope == "none" else f"int8-{scope}"
            name = base if island == "f32" else f"{base}+{'fp16' if island == 'f16' else island}"
            plans.append(Plan(name, backend, "int8", scope, island))  # type: ignore[arg-type]
    return plans


# A plan of a runtime other than the profile's own carries the runtime in its name ("ort-int8"): the plan search
# weighs several runtimes side by side and the bundle's folder must say which one shipped.
PREFIX: dict[Backend, str] = {Backend.onnxruntime: "ort", Backend.openvino: "ov", Backend.executorch: "et"}


def all_plans(backend: Backend, prefixed: bool = False) -> list[Plan]:
    """Every plan a backend has, whatever the target (the vocabulary of ``--plan``); ``prefixed``: named as an
    alternative runtime's plans are ("ort-fp32")."""
    if backend is Backend.openvino:
        plans = [Plan("fp32", backend, "fp32"), Plan("bf16", backend, "bf16", islands="bf16"),
                 Plan("fp16", backend, "fp16", islands="f16"), *_int8_plans(backend, ["f32", "bf16", "f16"])]
    elif backend is Backend.onnxruntime:
        # the automatic float scope reverts quantizers in NNCF's OpenVINO graph; ONNX Runtime's QDQ models
        # (quantized by ONNX Runtime itself) have the hint scope and none
        plans = [Plan("fp32", backend, "fp32"), *_int8_plans(backend, ["f32"], ("none", "hint"))]
    elif backend is Backend.executorch:
        # lowered from the torch model (pt2e INT8 with XNNPACK's quantizer): the hint scope maps the spec's float
        # patterns onto modules; no automatic scope (it reverts quantizers in NNCF's graph). fp16: XNNPACK's f16
        # kernels, where the target has FP16 arithmetic (and, to be timed, the build machine too)
        plans = [Plan("fp32", backend, "fp32"), Plan("fp16", backend, "fp16", islands="f16"),
                 *_int8_plans(backend, ["f32"], ("none", "hint"))]
    elif backend is Backend.coreml:
        # converted here, compiled and timed on a Mac: fp16 (the Neural Engine's precision) and the data-free
        # weight compressions; W8A8 (what the Neural Engine speeds INT8 up with) needs Core ML's predictions to
        # calibrate its activations: converted here in fp16, quantized by edgeus finalize on the Mac
        plans = [Plan("fp16", backend, "fp16", islands="f16"), Plan("w8", backend, "w8", islands="f16"),
                 Plan("p6", backend, "p6", islands="f16"), Plan("w8a8", backend, "w8a8", islands="f16")]
    else:
        plans = [Plan("fp16", backend, "fp16", islands="f16"), Plan("int8-hint", backend, "int8", "hint", "f16"),
                 Plan("fp32", backend, "fp32")]
    if prefixed:
        from dataclasses import replace

        plans = [replace(p, name=f"{PREFIX[backend]}-{p.name}") for p in plans]
    return plans


def profile_backends(profile: DeviceProfile) -> list[Backend]:
    """The runtimes a profile's plan search may ship: its ``backend`` first, then the others ``backends``
    allows."""
    return [profile.backend, *(b for b in profile.backends if b is not profile.backend)]


def profile_plans(profile: DeviceProfile) -> list[Plan]:
    """Every plan of every runtime the profile allows: its own runtime's by their plain names, the others'
    prefixed with the runtime ("ort-int8")."""
    return [p for i, backend in enumerate(profile_backends(profile)) for p in all_plans(backend, prefixed=i > 0)]


def fp32_of(plan: Plan, plans: list[Plan]) -> Plan | None:
    """The fp32 plan of ``plan``'s runtime among ``plans``: what its speed-up is measured against."""
    return next((p for p in plans if p.backend is plan.backend and p.compute == "fp32"), None)


# The backends whose model is compiled where it runs: one plan per build, its speed known only there
ON_DEVICE = (Backend.tensorrt, Backend.coreml)


def profile_plan(profile: DeviceProfile) -> Plan:
    """The one plan of a profile without a choice (TensorRT, Core ML): its precision, INT8 with the spec's hints
    (Core ML: INT8 weights)."""
    by_precision = {Precision.fp16: "fp16", Precision.int8: "int8-hint", Precision.mixed: "int8-hint",
                    Precision.fp32: "fp32"}
    if profile.backend is Backend.coreml:
        by_precision = {Precision.fp16: "fp16", Precision.int8: "w8", Precision.mixed: "w8", Precision.fp32: "fp16"}
    return plan_named(profile.backend, by_precision[profile.precision])


def plan_named(backend: Backend, name: str) -> Plan:
    """A backend's plan by name, plain ("int8") or as an alternative runtime's ("ort-int8")."""
    plans = {p.name: p for p in all_plans(backend)}
    if backend in PREFIX:
        plans.update({p.name: p for p in all_plans(backend, prefixed=True)})
    if name not in plans:
        import difflib

        close = difflib.get_close_matches(name, plans, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ProfileError(f"unknown plan {name!r} for the {backend.value} backend{hint}; "
                           f"plans: auto, {', '.join(plans)}")
    return plans[name]


def plan_of_profile(profile: DeviceProfile, name: str) -> Plan:
    """A plan of any runtime the profile allows, by the name the plans table shows."""
    plans = {p.name: p for p in profile_plans(profile)}
    if name in plans:
        return plans[name]
    for backend in profile_backends(profile):  # "ort-int8" on an ONNX Runtime profile is its plain "int8"
        try:
            plan = plan_named(backend, name)
        except ProfileError:
            continue
        return plans.get(plan.name.removeprefix(f"{PREFIX.get(backend, '')}-"), plan)
    return plan_named(profile.backend, name)  # unknown: its error names the close matches


def missing_feature(plan: Plan, features: list[str] | None) -> str | None:
    """Why ``features`` (a CPU's) cannot run ``plan`` in hardware; None if they can."""
    need = plan.needs()
    if need is None:
        return None
    if features is None:
        return f"needs {need} arithmetic and the CPU's features are not known"
    if not any(f in features for f in PRECISION_FEATURES[need]):
        return f"needs {need} arithmetic ({' or '.join(PRECISION_FEATURES[need])})"
    return None


@dataclass(frozen=True)
class PlanChoice:
    candidates: list[Plan]          # what will be built and measured
    excluded: dict[str, str]        # plan name -> why not (the target or this machine lacks a feature)
    pinned: bool                    # one plan, named by the user or the profile


def candidate_plans(profile: DeviceProfile, requested: str, build_features: list[str]) -> PlanChoice:
    """The plans to build for ``profile``: all it can run (``auto``) or the one named.

    A plan the target cannot run is never a candidate; one the target can run but this machine cannot is
    excluded too (its timing here would be an fp32 timing), with the reason."""
    if profile.backend in ON_DEVICE:
        plan = profile_plan(profile) if requested == AUTO else plan_named(profile.backend, requested)
        return PlanChoice([plan], {}, True)
    target = profile.hardware.cpu_features
    excluded: dict[str, str] = {}
    candidates = []
    for plan in profile_plans(profile):
        on_target = missing_feature(plan, target)
        here = missing_feature(plan, build_features)
        if on_target:
            excluded[plan.name] = f"{profile.hardware.device} {on_target}"
        elif here:
            excluded[plan.name] = f"this build machine {here}: it cannot be measured here"
        else:
            candidates.append(plan)
    if requested == AUTO:
        return PlanChoice(candidates, excluded, False)
    plan = plan_of_profile(profile, requested)
    if plan.name in excluded:
        raise ProfileError(f"plan {plan.name!r} cannot run for profile {profile.name}: {excluded[plan.name]}")
    return PlanChoice([plan], {}, True)


def without_twins(choice: PlanChoice, spec_float_patterns: list[str]) -> PlanChoice:
    """A model whose spec names no layers to keep in float quantizes under ``int8-hint`` exactly as under
    ``int8`` (same islands): building and timing it twice costs a quantization and a validation for nothing
    and lets timing noise pick between two equal models. The hint plan is then excluded, saying why. A plan
    the user pinned is built as asked."""
    if choice.pinned or spec_float_patterns:
        return choice
    names = {p.name for p in choice.candidates}
    kept, excluded = [], dict(choice.excluded)
    for plan in choice.candidates:
        twin = plan.name.replace("int8-hint", "int8", 1)
        if plan.scope == "hint" and twin in names:
            excluded[plan.name] = f"the same model as {twin}: the model's spec names no layers to keep in float"
        else:
            kept.append(plan)
    return PlanChoice(kept, excluded, choice.pinned)
