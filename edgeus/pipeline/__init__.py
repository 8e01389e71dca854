"""Layer 2, orchestration: ``flow.build`` (export -> quantize -> compile -> validate -> profile -> bundle), the
content-addressed stage ``cache``, budget ``verdicts`` and the on-device ``finalize`` of TensorRT bundles.

May import stages, bundle, report, uusic25, runtime, backends, evidence, contracts, data, models, util, errors.
"""
