"""Layer 6, evidence: the challenge's metrics, bootstrap intervals, three-state gates, per-task scoring,
predictions per task (``evaluate``), export parity and the challenge score.

May import contracts, data, models, util, errors (a Runner is only a type here).
"""
