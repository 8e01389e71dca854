"""ExecuTorch: the runtime of Android and iOS apps (and embedded Linux) for PyTorch models, here through its
XNNPACK delegate (ARM NEON / x86 AVX CPU kernels). Unlike the other backends it starts from the torch model,
not the ONNX export: ``torch.export`` -> (pt2e INT8) -> edge dialect -> XNNPACK partitions -> ``.pte``.

``lower`` writes a ``.pte`` with its tensor names and delegation coverage beside it; ``runner`` runs one with
ExecuTorch's Python runtime. Both import ``executorch`` (the ``executorch`` extra) lazily; its Python runtime
needs torch's shared libraries (libtorch / libc10): a device runs the ``.pte`` with ExecuTorch's C++ runtime
(the Android AAR, the iOS framework), not with edgeus's Python vendor runtime unless torch is there.
"""
