"""The UUSIC25 accuracy score from per-task metrics, in one place (``compare`` and ``uusic25 score`` use it).

Seg = mean over segmentation tasks of (DSC + NSD) / 2 (FACTS.md); Cls = mean over classification tasks of
(AUC + ACC) / 2 is edgeus's reading (the official Cls formula was not published); accuracy score = (Seg + Cls) / 2,
the input to the challenge's min-max over teams.
"""

from __future__ import annotations

import numpy as np


def mean_present(values) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def seg_cls_scores(tasks: dict[str, dict]) -> tuple[float | None, float | None, float | None]:
    """``tasks``: task key -> {dsc, nsd} or {auc, acc} values (None where undefined) -> (Seg, Cls, accuracy score)."""
    seg = mean_present([(t["dsc"] + t["nsd"]) / 2 for t in tasks.values()
                        if "dsc" in t and t["dsc"] is not None and t["nsd"] is not None])
    cls = mean_present([(t["auc"] + t["acc"]) / 2 for t in tasks.values()
                        if "auc" in t and t["auc"] is not None and t["acc"] is not None])
    return seg, cls, None if seg is None or cls is None else (seg + cls) / 2
