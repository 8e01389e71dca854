"""TensorRT: the runner, builder settings from a profile, device identity, engine naming/compatibility, the
engine build and the symmetric QDQ form TensorRT consumes. Only ``builder`` and ``runner`` import TensorRT,
lazily; the rest is plain Python, tested on machines without a GPU.
"""
