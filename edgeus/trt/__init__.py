"""TensorRT: builder settings from a profile, device identity, engine naming/compatibility, the engine build
and the on-device ``finalize`` of a deferred bundle.

Only ``builder`` and ``finalize`` (and the runner in edgeus.backends.tensorrt) import TensorRT, lazily; the
rest is plain Python so it is tested on machines without a GPU.
"""
