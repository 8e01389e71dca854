"""Rebuild report dataclasses from their JSON: now in contracts/reports.py (kept importable from here)."""

from __future__ import annotations

from edgeus.contracts.reports import accuracy_from_dict, perf_from_dict  # noqa: F401 -- re-exported
