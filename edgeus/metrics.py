"""UUSIC25 metrics: DSC and NSD exactly as the challenge defines them, AUC and accuracy.

DSC = 2|T∩P| / (|T| + |P| + 1e-6) on masks binarised with > 0 (empty vs empty gives 0, as officially).
NSD (tolerance 1 pixel): inner boundaries of both masks (a foreground pixel with a 4-neighbour in the
background; the frame edge is not a boundary), Euclidean distance transform of each boundary's complement;
NSD = (#∂T within tol of ∂P + #∂P within tol of ∂T) / (|∂T| + |∂P| + 1e-6).
AUC: scikit-learn's ROC AUC (binary on the positive-class probability; one-vs-one macro for more classes, as
the baseline; one-vs-rest also given). A label set with a single class makes AUC undefined: ``None``.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def dice(truth: np.ndarray, pred: np.ndarray) -> float:
    t, p = truth > 0, pred > 0
    return float(2 * np.logical_and(t, p).sum() / (t.sum() + p.sum() + EPS))


def mask_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Dice between two *predicted* masks (candidate vs fp32 reference), for fidelity. Unlike the challenge's
    DSC, two empty masks agree perfectly (1.0): a quantized model that also finds nothing is not wrong."""
    r, c = reference > 0, candidate > 0
    if not r.any() and not c.any():
        return 1.0
    return dice(r, c)


def inner_boundary(mask: np.ndarray) -> np.ndarray:
    m = mask > 0
    padded = np.pad(m, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return m & ~interior


def nsd(truth: np.ndarray, pred: np.ndarray, tolerance: float = 1.0) -> float:
    from scipy.ndimage import distance_transform_edt

    bt, bp = inner_boundary(truth), inner_boundary(pred)
    if not bt.any() and not bp.any():
        return 0.0
    # distance_transform_edt of an all-True image is inf-free but meaningless; guard the empty sides.
    dist_to_p = distance_transform_edt(~bp) if bp.any() else np.full(bt.shape, np.inf)
    dist_to_t = distance_transform_edt(~bt) if bt.any() else np.full(bp.shape, np.inf)
    close = (dist_to_p[bt] <= tolerance).sum() + (dist_to_t[bp] <= tolerance).sum()
    return float(close / (bt.sum() + bp.sum() + EPS))


def auc(labels: np.ndarray, probabilities: np.ndarray, multi_class: str = "ovo") -> float | None:
    """ROC AUC; ``None`` when it is undefined (fewer than two classes present in ``labels``)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = probabilities.shape[1]
    if len(np.unique(labels)) < 2:
        return None
    if n_classes == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    if len(np.unique(labels)) < n_classes:
        return None  # sklearn's multi-class AUC needs every class among the labels
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return float(roc_auc_score(labels, probabilities, multi_class=multi_class, labels=list(range(n_classes))))


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))
