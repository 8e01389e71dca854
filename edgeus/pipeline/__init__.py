"""Layer 2, orchestration: ``flow.build`` / ``flow.prepare`` over one typed stage seam (``stages``: each cached
stage once, keyed by ``cache``), the plan search (``plans``, ``ledger``), the bundle ``tail``, budget
``verdicts``, and TensorRT's ``deferred`` path (pending bundle, ``finalize`` on the device). Typed inputs and
results live in ``context``; per-backend decisions in ``backend_entity``.

May import stages, bundle, report, uusic25, runtime, backends, evidence, contracts, data, models, util, errors.
"""
