"""UUSIC25 metrics, defined as the challenge's own code computes them.

DSC = 2|T∩P| / (|T| + |P| + 1e-6) on masks binarised with > 0 (empty vs empty gives 0, as officially).

NSD (tolerance 1 pixel): inner boundaries of both masks (a foreground pixel with a 4-neighbour in the
background; the frame edge is not a boundary, as scikit-image's ``find_boundaries(mode="inner")``), the
Euclidean distance transform of each boundary's complement (scipy);
NSD = (#∂T within tol of ∂P + #∂P within tol of ∂T) / (|∂T| + |∂P| + 1e-6).
``nsd`` is the **official** number: when one mask has no boundary pixels the official code still runs the
distance transform, on an array with no zeros, and scipy then measures every pixel's distance to the point
(-1, 0) just outside the image, so a boundary pixel at (0, 0) counts as "within 1 pixel" of the empty mask.
``nsd_clean`` is the mathematically clean number (nothing is close to an empty boundary); validate reports it
beside the official one, labelled, and ``uusic25 score`` uses only the official one.

AUC: binary ROC AUC on the positive-class probability; for more classes the **macro one-vs-rest** AUC (the
mean over classes of the AUC of that class's probability column against "this class or not"). That is what
the baseline trainer really computes: it passes one-hot labels to scikit-learn, which then treats the task as
multilabel and ignores ``multi_class="ovo"``. Probabilities are used as given (not renormalised). A label set
missing any class makes AUC undefined: ``None`` (scikit-learn raises there).
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


def _nsd(truth: np.ndarray, pred: np.ndarray, tolerance: float, official: bool) -> float:
    from scipy.ndimage import distance_transform_edt

    bt, bp = inner_boundary(truth), inner_boundary(pred)

    def distance_to(boundary: np.ndarray) -> np.ndarray:
        if boundary.any() or official:
            return distance_transform_edt(~boundary)  # all-True input: distances to (-1, 0), the official artefact
        return np.full(boundary.shape, np.inf)

    close = (distance_to(bp)[bt] <= tolerance).sum() + (distance_to(bt)[bp] <= tolerance).sum()
    return float(close / (bt.sum() + bp.sum() + EPS))


def nsd(truth: np.ndarray, pred: np.ndarray, tolerance: float = 1.0) -> float:
    """The challenge's NSD, including its empty-boundary artefact (see the module docstring)."""
    return _nsd(truth, pred, tolerance, official=True)


def nsd_clean(truth: np.ndarray, pred: np.ndarray, tolerance: float = 1.0) -> float:
    """NSD where nothing is within tolerance of an empty boundary (differs from ``nsd`` only then)."""
    return _nsd(truth, pred, tolerance, official=False)


def auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Macro one-vs-rest AUC: the mean over classes k of the AUC of (label == k) scored by column k, as the
    challenge's baseline calls scikit-learn (``roc_auc_score(one_hot_labels, probabilities)``), two classes
    included: where a row's probabilities sum to 1 both columns give the same AUC; where they do not (a
    submitted classification.json), the mean of the two is what the baseline reports. ``None`` when a class is
    absent from ``labels``."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = probabilities.shape[1]
    present = np.unique(labels)
    if len(present) < 2:
        return None
    if len(present) < n_classes:
        return None  # one column of the one-hot labels would hold a single class: undefined, as in sklearn
    per_class = [roc_auc_score(labels == k, probabilities[:, k]) for k in range(n_classes)]
    return float(np.mean(per_class))


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Share of argmax predictions equal to the label (ties go to the lowest class index, as numpy's argmax)."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))
