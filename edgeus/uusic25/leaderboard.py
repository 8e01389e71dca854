"""The UUSIC25 final leaderboard as published (``catalog/uusic25_leaderboard.csv``) and the test-set size."""

from __future__ import annotations

import csv
from pathlib import Path

UUSIC25_TEST_IMAGES = 2479
LEADERBOARD = Path(__file__).resolve().parents[1] / "catalog" / "uusic25_leaderboard.csv"


def leaderboard() -> list[dict]:
    with open(LEADERBOARD, newline="") as fh:
        return list(csv.DictReader(fh))
