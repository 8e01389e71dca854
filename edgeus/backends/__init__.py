"""Runners: one interface over every inference backend. Each module owns one SDK and imports it lazily."""

from edgeus.backends.base import Runner, TensorMeta

__all__ = ["Runner", "TensorMeta"]
