"""Three-state accuracy gates: a drop passes, fails or is inconclusive given its paired confidence interval.

A gate on a few dozen images must not pass or fail on noise:
* **pass** — the upper bound of the paired 95 % CI of the drop is within the budget (non-inferiority shown);
* **fail** — the point estimate is beyond the budget *and* the lower bound is above zero (a real loss);
* **inconclusive** — anything else: the data cannot tell. The gate then says how many images per task would
  resolve it at the observed effect, from the interval's width: the standard error is taken as
  (high - low) / (2 * 1.96) and shrinks as 1/sqrt(n), so resolving a margin m needs n * (1.96 * se / m)^2 images,
  where m is the distance from the drop to the budget (towards pass) or to zero (towards fail).
* **undefined** — the metric has no value (e.g. AUC with one class present); it neither passes nor blocks.

Whether an inconclusive gate blocks is the profile's choice (``budgets.strict``, for release builds).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

GateState = Literal["pass", "fail", "inconclusive", "undefined"]
Z95 = 1.959964
TOLERANCE = 1e-12  # float noise around a budget or zero is not a difference


@dataclass(frozen=True)
class GateOutcome:
    state: GateState
    reason: str
    images_needed: dict[str, int] = field(default_factory=dict)  # task -> images that would resolve the gate

    def to_dict(self) -> dict:
        return asdict(self)


def _needed(n_per_task: dict[str, int], se: float, margin: float) -> dict[str, int]:
    if se <= 0 or margin <= TOLERANCE:
        return {}
    factor = (Z95 * se / margin) ** 2
    return {task: max(n + 1, math.ceil(n * factor)) for task, n in n_per_task.items()}


def judge_drop(drop: float | None, ci: list, budget: float, n_per_task: dict[str, int]) -> GateOutcome:
    """The state of one drop (reference minus candidate) against its budget, from its paired CI."""
    if drop is None:
        return GateOutcome("undefined", "metric undefined here (e.g. AUC with one class present)")
    low, high = ci if ci else (None, None)
    if low is None or high is None:
        return GateOutcome("inconclusive", f"drop {drop:.4f}: no bootstrap interval (too few images of each class)")
    if high <= budget + TOLERANCE:
        return GateOutcome("pass", f"upper 95 % bound {high:.4f} <= budget {budget:g}")
    if drop > budget + TOLERANCE and low > TOLERANCE:
        return GateOutcome("fail", f"drop {drop:.4f} > budget {budget:g} and its 95 % CI [{low:.4f}, {high:.4f}] "
                                   "excludes 0")
    se = (high - low) / (2 * Z95)
    if drop <= budget + TOLERANCE:
        needed = _needed(n_per_task, se, budget - drop)
        towards = f"the upper bound to {budget:g} (pass)"
    else:
        needed = _needed(n_per_task, se, drop)
        towards = "the lower bound above 0 (fail)"
    where = (f"; about {', '.join(f'{n} {t}' for t, n in needed.items())} images would move {towards}"
             if needed else "; more images cannot resolve a drop equal to its budget")
    return GateOutcome("inconclusive", f"drop {drop:.4f}, 95 % CI [{low:.4f}, {high:.4f}] spans budget {budget:g}"
                                       f" and 0{where}", needed)


def combine(outcomes: dict[str, GateOutcome]) -> GateOutcome:
    """A worst-task gate over tasks: any fail fails, else any inconclusive is inconclusive, else pass."""
    for state in ("fail", "inconclusive"):
        hit = {task: o for task, o in outcomes.items() if o.state == state}
        if hit:
            needed = {t: n for o in hit.values() for t, n in o.images_needed.items()}
            return GateOutcome(state, "; ".join(f"{t}: {o.reason}" for t, o in hit.items()), needed)
    if any(o.state == "pass" for o in outcomes.values()):
        return GateOutcome("pass", f"every task's upper 95 % bound within budget ({len(outcomes)} tasks)")
    return GateOutcome("undefined", "undefined on every task")


def blocks(state: str | None, strict: bool) -> bool:
    """Whether a gate in this state stops a build: fail always, inconclusive under a strict profile."""
    return state == "fail" or (strict and state == "inconclusive")
