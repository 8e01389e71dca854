"""The metric test catalogue: small cases whose expected values are derived by hand from the challenge's
definitions (FACTS.md), not from the code under test. Each derivation is in the comment beside the case.

Segmentation: DSC = 2|T∩P| / (|T|+|P|+1e-6); NSD (tol 1) = (#∂T within 1 of ∂P + #∂P within 1 of ∂T) /
(|∂T|+|∂P|+1e-6), with inner 4-neighbour boundaries (the frame edge is no boundary). Officially the distance map
of an *empty* boundary is scipy's EDT of an all-True array: the distance to the point (-1, 0), so only pixel
(0, 0) lies within 1 of it ("nsd" below); "nsd_clean" counts nothing as close to an empty boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

E = 1e-6


@dataclass(frozen=True)
class SegCase:
    name: str
    truth: np.ndarray
    pred: np.ndarray
    dsc: float
    nsd: float
    nsd_clean: float


@dataclass(frozen=True)
class ClsCase:
    name: str
    labels: list[int]
    probabilities: list[list[float]]
    auc: float | None
    acc: float


def _zeros(h: int = 20, w: int = 20) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _square(top: int, left: int, side: int, h: int = 64, w: int = 64, value: int = 255) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[top:top + side, left:left + side] = value
    return m


def _pixel(y: int, x: int) -> np.ndarray:
    m = _zeros()
    m[y, x] = 255
    return m


def _row0_run() -> np.ndarray:
    m = _zeros()
    m[0, 0:5] = 255
    return m


def segmentation_cases() -> list[SegCase]:
    return [
        # no foreground anywhere: 0 / (0 + 1e-6) for both metrics (the challenge gives 0, not 1)
        SegCase("empty vs empty", _zeros(), _zeros(), 0.0, 0.0, 0.0),
        # DSC 0/(0+1+e). NSD: ∂P = {(0,0)}; EDT of the empty ∂T's complement at (0,0) = dist to (-1,0) = 1 <= 1
        SegCase("empty vs one pixel at the corner", _zeros(), _pixel(0, 0), 0.0, 1 / (1 + E), 0.0),
        # (10,10) is sqrt(11^2 + 10^2) from (-1,0): not within 1
        SegCase("empty vs one pixel in the middle", _zeros(), _pixel(10, 10), 0.0, 0.0, 0.0),
        # truth: 5 pixels on row 0 (cols 0-4), all boundary; only (0,0) is within 1 of (-1,0): 1/5
        SegCase("border run vs empty", _row0_run(), _zeros(), 0.0, 1 / (5 + E), 0.0),
        # same mask: DSC 2n/(2n+e) with n=5; every boundary pixel at distance 0: 10/(10+e)
        SegCase("border run vs itself", _row0_run(), _row0_run(), 10 / (10 + E), 10 / (10 + E), 10 / (10 + E)),
        # 32x32 square, shifted one column: |T∩P| = 32*31; every one of the 124+124 boundary pixels has a
        # boundary pixel of the other mask within 1 -> NSD 248/(248+e)
        SegCase("one-pixel shift", _square(16, 16, 32), _square(16, 17, 32),
                2 * 32 * 31 / (2048 + E), 248 / (248 + E), 248 / (248 + E)),
        # two columns (T cols 16-47, P cols 18-49): the top and bottom rows of each mask have 31 of 32 pixels
        # within 1 of the other's (the outermost column is 2 away); of the side columns only the two pixels
        # next to a corner of the overlapping side (rows 17 and 46) touch the other's top/bottom row:
        # (31 + 31 + 2) per mask -> 128/(248+e) = 0.516 ("about 0.51")
        SegCase("two-pixel shift", _square(16, 16, 32), _square(16, 18, 32),
                2 * 32 * 30 / (2048 + E), 128 / (248 + E), 128 / (248 + E)),
        # 10x10 square vs its 8x8 erosion: |T∩P| = 64; ∂T has 36 pixels, its 4 corners are sqrt(2) from ∂P,
        # the other 32 at 1; all 28 of ∂P are at 1 from ∂T -> (32 + 28)/(36 + 28)
        SegCase("erosion by one pixel", _square(5, 5, 10, 20, 20), _square(6, 6, 8, 20, 20),
                128 / (164 + E), 60 / (64 + E), 60 / (64 + E)),
        # 0/255 truth against a 0/1 prediction of the same square: masks are binarised with > 0
        SegCase("0/255 vs 0/1", _square(2, 2, 4, 8, 8), _square(2, 2, 4, 8, 8, value=1),
                32 / (32 + E), 24 / (24 + E), 24 / (24 + E)),
    ]


def classification_cases() -> list[ClsCase]:
    return [
        # positives score 0.5 and 0.8, negatives 0.5 and 0.2: pairs 0.5 (tie), 1, 1, 1 -> 3.5/4.
        # argmax of [0.5, 0.5] is class 0 (first index): row 0 right, row 1 wrong -> 3/4
        ClsCase("binary with ties", [0, 1, 0, 1], [[0.5, 0.5], [0.5, 0.5], [0.8, 0.2], [0.2, 0.8]], 0.875, 0.75),
        # only one class among the labels: AUC undefined
        ClsCase("binary, one class present", [1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], None, 2 / 3),
        # 4 classes, one positive each; rows do NOT sum to 1 and are used as given (one-vs-rest per column):
        # col0: 0.6 vs {0.5, 0.1, 0.7} -> 2/3; cols 1-3: the positive beats all three -> 1. Macro (2/3+3)/4 = 11/12.
        # (Renormalising the rows would give 1.0 for col0: the case tells the two apart.) argmax: all 4 right.
        ClsCase("4 classes, rows not summing to 1", [0, 1, 2, 3],
                [[0.6, 0.1, 0.1, 0.1], [0.5, 0.9, 0.3, 0.2], [0.1, 0.2, 0.7, 0.4], [0.7, 0.2, 0.1, 0.8]], 11 / 12, 1.0),
        # a class (3) missing from the labels of a 4-way task: the one-hot column is constant, AUC undefined
        ClsCase("4 classes, one missing", [0, 1, 2, 0],
                [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.4, 0.3, 0.2, 0.1]], None, 1.0),
        # imbalanced; one-vs-rest per column (one-vs-one gives another number here):
        # labels 0,0,1,1,2,3; col0 positives .6,.5 vs negatives .2,.3,.1,.4 -> 1; col1 positives .5,.1 vs
        # negatives .2,.3,.1,.3: .5 beats all 4, .1 ties one (.1) and beats none -> (4 + 0.5)/8 = 9/16;
        # col2 positive .5 vs .1,.1,.2,.3,.1 -> 1; col3 positive .2 vs .1,.1,.1,.3,.3: 3 wins -> 3/5.
        # Macro = (1 + 9/16 + 1 + 0.6)/4. argmax: rows 0,1 -> 0 right; row 2 -> 1 right; row 3 ([.3,.1,.3,.3]) -> 0
        # wrong; row 4 -> 2 right; row 5 ([.4,.3,.1,.2]) -> 0 wrong: 4/6
        ClsCase("4 classes, imbalanced", [0, 0, 1, 1, 2, 3],
                [[0.6, 0.2, 0.1, 0.1], [0.5, 0.3, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1], [0.3, 0.1, 0.3, 0.3],
                 [0.1, 0.1, 0.5, 0.3], [0.4, 0.3, 0.1, 0.2]], (1 + 9 / 16 + 1 + 0.6) / 4, 4 / 6),
    ]
