"""The ONNX Runtime session a target's device runs, so the build's evidence comes from the same graph.

ONNX Runtime rewrites a graph at load time, and some rewrites exist on x86-64 only (onnxruntime
core/optimizer/graph_transformer_utils.cc, 1.32):

* ``NchwcTransformer`` (level 3, "all"): MLAS's blocked NCHWc layout for float Conv/Pool chains, registered
  only where ``MlasNchwcGetBlockSize() > 1`` (AVX2 / AVX-512). It reorders float accumulation: measured from
  outside (issue 25) on an INT8 ARM bundle, a classification vector moved by 0.11 against a tolerance of 0.07.
* ``QDQS8ToU8Transformer`` (level 2): runs unless ``session.qdqisint8allowed`` is set, and its default is
  "no" on x86 (signed 8-bit activations are slow there) and "yes" on ARM. It turns S8 Q/DQ pairs into U8.
  Compile saves the graph after level 2 (stages/compile.py), so the rewrite is part of the shipped artefact:
  the device loads the saved pairs and x86 and ARM run the same graph. (Forcing ARM's default at compile
  changed nothing on the default INT8 bundle: identical vectors, its activations are U8 already.)
* ``Avx2WeightS8ToU8Transformer``: only with ``session.x64quantprecision`` = 1 (off by default): left off.

Kernel choice inside MLAS (AVX-512-VNNI vs NEON dot-product integer kernels, their requantization) is not a
graph rewrite and has no switch. Measured here with NCHWc off: x86 and emulated cortex-a76 differ by up to 0.9
on a segmentation logit of the default INT8 ARM bundle (a step of the output scale). So the vectors of an ARM
bundle hold the core's own outputs (bundle/emulated.record_on_target) and the manifest names the ISA the rest
of the evidence was computed with.

For an ARM target the session below is what its device does by default (NCHWc is not registered there); on
the x86 build machine it removes the x86-only load-time rewrite. It is recorded in the compile settings,
hence in the manifest, and the vendor runtime opens the engine with it on the device."""

from __future__ import annotations

X86_ONLY_TRANSFORMS = ("NchwcTransformer",)  # at load time; QDQS8ToU8Transformer is baked in at compile


def target_session(arch: str) -> dict:
    """Session settings for a target architecture: {} for x86-64 (its own defaults), else the x86-only
    rewrites switched off: ``disabled_optimizers`` and ``config`` (session config entries)."""
    if arch == "x86_64":
        return {}
    return {"disabled_optimizers": list(X86_ONLY_TRANSFORMS),
            "why": "no x86-only load-time graph rewrite (NCHWc layout): what the target's ONNX Runtime runs"}
