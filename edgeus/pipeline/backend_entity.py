"""What a build does differently per backend, in one place: one entity per backend behind one ABC (the
pattern NNCF uses for its algorithms' backends), looked up by ``build_backend(profile)``, instead of
``if profile.backend is ...`` branches spread over the pipeline.

The runtimes themselves (OpenVINO, ONNX Runtime) load only when a runner made here loads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from edgeus.backends.base import Runner
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.onnxruntime.target import target_session
from edgeus.backends.openvino.runner import OpenVINORunner
from edgeus.contracts.kinds import Backend
from edgeus.contracts.plans import Plan
from edgeus.contracts.profiles import DeviceProfile, OpenVINOSettings, Runtime


class BuildBackend(ABC):
    backend: Backend
    engine_on_device = False      # the engine is built where it runs (TensorRT: deferred bundle, then finalize)
    searches_float_scope = False  # the automatic float scope reverts quantizers in NNCF's OpenVINO graph
    int8_speedup_gate = False     # INT8 ships only when clearly faster than fp32 of the same loop
    islands_precision_knob = False  # float islands' precision is a runtime setting (a ledger stage in f32)
    lowers_from_torch = False     # its model is lowered from the torch module (stages/lower.py), not the ONNX export

    def plan_runtime(self, runtime: Runtime, plan: Plan) -> Runtime:
        """The runtime settings a plan builds with (its float compute precision, where the backend takes one)."""
        return runtime

    @abstractmethod
    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        """The same export in fp32 on this backend, as the target (``arch``) runs it: what a plan must be
        faster than."""

    def float_islands_in_f32(self, model: Path, threads: int) -> Runner:
        """The INT8 model with its float islands computed in f32 (a stage of the ledger), where
        ``islands_precision_knob``."""
        raise NotImplementedError(f"{self.backend.value} has no float-islands precision setting")


class OpenVINOBuild(BuildBackend):
    backend = Backend.openvino
    searches_float_scope = True
    islands_precision_knob = True

    def plan_runtime(self, runtime: Runtime, plan: Plan) -> Runtime:
        ov = runtime.openvino or OpenVINOSettings()
        return runtime.model_copy(update={"openvino": ov.model_copy(update={"inference_precision": plan.float_compute})})

    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        return OpenVINORunner(fp32_onnx, threads=threads, inference_precision="f32", name="openvino-fp32")

    def float_islands_in_f32(self, model: Path, threads: int) -> Runner:
        return OpenVINORunner(model, threads=threads, inference_precision="f32", name="int8 f32-islands")


class OnnxRuntimeBuild(BuildBackend):
    backend = Backend.onnxruntime
    # Q/DQ costs ~20 % of kernel time on ONNX Runtime's CPU provider: below the budget's speedup INT8 costs
    # accuracy for a gain the target may not see (contracts/profiles.Budgets.ort_int8_min_speedup)
    int8_speedup_gate = True

    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        # an ARM device has no NCHWc layout: neither has its fp32 baseline (backends/onnxruntime/target.py)
        return OnnxRuntimeRunner(fp32_onnx, threads=threads, name="onnxruntime-fp32", session=target_session(arch))


class TensorRTBuild(BuildBackend):
    backend = Backend.tensorrt
    engine_on_device = True

    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        # the portable fp32 model under ONNX Runtime: the engine itself is built on the device
        return OnnxRuntimeBuild().fp32_baseline(fp32_onnx, threads, arch)


class ExecuTorchBuild(BuildBackend):
    backend = Backend.executorch
    lowers_from_torch = True

    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        # the export under ONNX Runtime, as the target would run it (ONNX Runtime Mobile is the phone's other
        # CPU runtime): what an ExecuTorch plan must beat
        return OnnxRuntimeBuild().fp32_baseline(fp32_onnx, threads, arch)


class CoreMLBuild(BuildBackend):
    backend = Backend.coreml
    engine_on_device = True   # compiled (.mlmodelc), run and timed on a Mac or the device: pending until then
    lowers_from_torch = True  # converted from the torch model with coremltools

    def fp32_baseline(self, fp32_onnx: Path, threads: int, arch: str = "x86_64") -> Runner:
        # the portable fp32 model under ONNX Runtime: Core ML itself runs only on Apple's OSes
        return OnnxRuntimeBuild().fp32_baseline(fp32_onnx, threads, arch)


ENTITIES: dict[Backend, BuildBackend] = {e.backend: e for e in (OpenVINOBuild(), OnnxRuntimeBuild(), TensorRTBuild(),
                                                                ExecuTorchBuild(), CoreMLBuild())}


def build_backend(profile: DeviceProfile) -> BuildBackend:
    return ENTITIES[profile.backend]
