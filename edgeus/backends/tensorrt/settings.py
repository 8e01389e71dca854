"""Profile -> TensorRT builder settings, and the equivalent ``trtexec`` command line.

One dataclass holds every decision, so the Python build (builder.py), the recipe shipped in a deferred bundle
and the trtexec line a vendor may run by hand cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# TensorRT 10 is what JetPack 6 (L4T 36.x) and current NGC images ship. TensorRT 11 removed the precision
# builder flags (networks are strongly typed) and DLA; edgeus's FP16-from-fp32 policy needs them.
SUPPORTED_TENSORRT_MAJOR = 10


@dataclass(frozen=True)
class ShapeProfile:
    """One optimisation profile: per input, min/opt/max shapes (batch is the only dynamic axis)."""

    min: dict[str, tuple[int, ...]]
    opt: dict[str, tuple[int, ...]]
    max: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class BuilderSettings:
    precision: str                       # fp16 | int8 (explicit, from QDQ) | fp32
    onnx: str                            # the ONNX the engine is built from (bundle-relative)
    workspace_bytes: int
    builder_optimization_level: int
    fp16: bool
    int8: bool
    dla_core: int | None
    gpu_fallback: bool
    hardware_compatibility: str          # none | ampere_plus | same_compute_capability
    shapes: ShapeProfile
    timing_cache: str = "model/timing.cache"
    target_compute_capability: str | None = None
    target_device: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["shapes"] = {k: {name: list(shape) for name, shape in v.items()} for k, v in data["shapes"].items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> BuilderSettings:
        shapes = ShapeProfile(**{k: {n: tuple(s) for n, s in v.items()} for k, v in data["shapes"].items()})
        return cls(**{**data, "shapes": shapes, "notes": list(data.get("notes", []))})


def shape_profile(spec, batch_sizes: list[int]) -> ShapeProfile:
    """min batch 1, opt the profile's first (most used) batch size, max its largest."""
    low, opt, high = 1, batch_sizes[0], max(batch_sizes)

    def shapes(batch: int) -> dict[str, tuple[int, ...]]:
        return {inp.name: inp.concrete_shape(batch) for inp in spec.inputs}

    return ShapeProfile(shapes(low), shapes(opt), shapes(high))


def builder_settings(profile, spec, onnx: str) -> BuilderSettings:
    """What TensorRT should do for this profile. ``onnx`` is the QDQ model for int8, the fp32 one otherwise."""
    trt = profile.runtime.tensorrt
    if trt is None:
        from edgeus.errors import ProfileError

        raise ProfileError(f"profile {profile.name}: backend tensorrt needs a [runtime.tensorrt] table")
    precision = profile.precision.value
    notes = []
    # Explicit quantization: the Q/DQ nodes say where INT8 runs; INT8 must be allowed, and FP16 lets the layers
    # left in float (softmax, LayerNorm, residual adds) run at half precision instead of fp32.
    int8 = precision in ("int8", "mixed")
    fp16 = precision in ("fp16", "int8", "mixed")
    if trt.dla_core is not None:
        notes.append(f"DLA core {trt.dla_core}" + (" with GPU fallback for layers DLA cannot run" if trt.gpu_fallback
                                                   else " without GPU fallback (the build fails if a layer cannot run on DLA)"))
    return BuilderSettings(
        precision=precision, onnx=onnx, workspace_bytes=trt.workspace_mb * 2**20,
        builder_optimization_level=trt.builder_optimization_level, fp16=fp16, int8=int8, dla_core=trt.dla_core,
        gpu_fallback=trt.gpu_fallback, hardware_compatibility=trt.hardware_compatibility,
        shapes=shape_profile(spec, profile.runtime.batch_sizes), target_compute_capability=trt.compute_capability,
        target_device=profile.hardware.device, notes=notes,
    )


def _shape_arg(shapes: dict[str, tuple[int, ...]]) -> str:
    return ",".join(f"{name}:{'x'.join(map(str, shape))}" for name, shape in shapes.items())


HARDWARE_COMPATIBILITY_TRTEXEC = {"ampere_plus": "ampere+", "same_compute_capability": "sameComputeCapability"}


def trtexec_command(settings: BuilderSettings, engine: str = "model/model.engine") -> list[str]:
    """The trtexec invocation that builds the same engine as builder.build_engine (run in the bundle folder)."""
    args = ["trtexec", f"--onnx={settings.onnx}", f"--saveEngine={engine}",
            f"--memPoolSize=workspace:{settings.workspace_bytes // 2**20}M",
            f"--builderOptimizationLevel={settings.builder_optimization_level}",
            f"--minShapes={_shape_arg(settings.shapes.min)}", f"--optShapes={_shape_arg(settings.shapes.opt)}",
            f"--maxShapes={_shape_arg(settings.shapes.max)}", f"--timingCacheFile={settings.timing_cache}"]
    if settings.fp16:
        args.append("--fp16")
    if settings.int8:
        args.append("--int8")
    if settings.dla_core is not None:
        args.append(f"--useDLACore={settings.dla_core}")
        if settings.gpu_fallback:
            args.append("--allowGPUFallback")
    if settings.hardware_compatibility != "none":
        args.append(f"--hardwareCompatibilityLevel={HARDWARE_COMPATIBILITY_TRTEXEC[settings.hardware_compatibility]}")
    return args
