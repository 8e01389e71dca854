"""Layer 3, the stages a build runs: ``export``, ``quantize``, ``compile``, ``validate``, ``profile``, the
calibration plan, and ``records`` (their JSON records read back in one place).

May import bundle, report, uusic25, runtime, backends, evidence, contracts, data, models, util, errors.
"""
