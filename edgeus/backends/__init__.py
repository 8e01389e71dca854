"""Layer 5, runners: one interface over every inference backend (``base.Runner``); one sub-package per runtime
(``onnxruntime/``, ``openvino/``, ``tensorrt/``) owns its SDK — runner, quantizer, settings — and imports it
lazily; ``registry.open_runner`` is the one place that turns a model file and a profile into a runner.

May import runtime, evidence, contracts, data, models, util, errors.
"""

from edgeus.backends.base import Runner, TensorMeta

__all__ = ["Runner", "TensorMeta"]
