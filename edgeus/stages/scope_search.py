"""The automatic float scope: which blocks of an INT8 model go back to float so that *every* task holds.

NNCF's accuracy control and similar tools gate one scalar metric; a universal model can lose one organ while
the average hardly moves. This search is gated on the worst task:

1. **Start** from full INT8 (no float scope) and measure each task's agreement with the fp32 model on the
   *search* part of the validation data (evidence/agreement.py: label-free, thresholds from the budgets).
   If every task is within its threshold, the scope is empty.
2. **Rank** the quantized blocks (backends/openvino/float_scope.py) by reverting one at a time: a block's
   benefit is how much it lowers the failing tasks' ratios (loss / threshold), summed over those tasks.
3. **Revert**, most beneficial first, one block more per step, until every task is within its threshold or
   no block is left.

The gates on the held-out *confirm* part, with labels and paired intervals, then judge the result like any
other plan (pipeline/plans.py): searching and confirming on the same images would overfit the scope.
Every evaluation is a step of the trace (blocks in float, per-task ratios, time per image), shipped in
the bundle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.openvino.float_scope import FloatScopeModels
from edgeus.contracts.profiles import AccuracyDrops
from edgeus.contracts.spec import ModelSpec
from edgeus.errors import EdgeusError
from edgeus.evidence.agreement import TaskAgreement, agreement, all_within
from edgeus.evidence.evaluate import predict

# evaluate(float blocks, tasks) -> (per-task agreement, milliseconds per image of that evaluation); ``tasks``
# limits the evaluation to those tasks (None: all): ranking only needs the tasks over their thresholds.
Evaluate = Callable[[list[str], "set[str] | None"], tuple[dict[str, TaskAgreement], float]]


@dataclass
class SearchStep:
    phase: str                      # start | rank | revert
    block: str | None               # the block reverted in this step (rank: alone; revert: added)
    float_blocks: list[str]
    ratios: dict[str, float]        # task -> worst loss / threshold (<= 1 within budget)
    worst_task: str
    ms_per_image: float
    within: bool


@dataclass
class ScopeSearch:
    blocks: dict[str, int]                                   # block -> number of operations
    float_blocks: list[str] = field(default_factory=list)    # the scope found
    float_operations: list[str] = field(default_factory=list)
    within: bool = False                                     # every task within its threshold on the search part
    steps: list[SearchStep] = field(default_factory=list)
    search_images: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _step(phase: str, block: str | None, float_blocks: list[str], result: tuple[dict[str, TaskAgreement], float]) -> SearchStep:
    agreements, ms = result
    ratios = {k: round(a.ratio, 4) if a.ratio != float("inf") else 1e9 for k, a in agreements.items()}
    worst = max(ratios, key=ratios.get) if ratios else ""
    return SearchStep(phase, block, list(float_blocks), ratios, worst, round(ms, 3), all_within(agreements))


def benefit(before: dict[str, float], after: dict[str, float]) -> float:
    """How much reverting a block lowers the ratios of the tasks that are over their thresholds."""
    return sum(max(0.0, before[k] - after[k]) for k, r in before.items() if r > 1.0)


def search_float_scope(blocks: dict[str, list[str]], evaluate: Evaluate,
                       progress: Callable[[str, int], None] = lambda label, n=1: None) -> ScopeSearch:
    """``blocks`` maps each block to the operations it returns to float, in graph order."""
    result = ScopeSearch({name: len(ops) for name, ops in blocks.items()})
    start = _step("start", None, [], evaluate([], None))
    result.steps.append(start)
    progress("full INT8", 1)
    if start.within:
        result.within = True
        return result
    scores = {}
    failing = {k for k, r in start.ratios.items() if r > 1.0}
    for name in blocks:
        step = _step("rank", name, [name], evaluate([name], failing))
        step.ratios = {**start.ratios, **step.ratios}  # tasks not evaluated keep their full-INT8 ratio
        step.worst_task = max(step.ratios, key=step.ratios.get)
        result.steps.append(step)
        scores[name] = benefit(start.ratios, step.ratios)
        progress(f"rank {name}", 1)
    # most beneficial first; ties keep graph order (later blocks are nearer the outputs)
    order = sorted(blocks, key=lambda n: -scores[n])
    chosen: list[str] = []
    for name in order:
        chosen.append(name)
        step = _step("revert", name, chosen, evaluate(list(chosen), None))
        result.steps.append(step)
        progress(f"revert {name}", 1)
        if step.within:
            result.within = True
            break
    result.float_blocks = chosen
    result.float_operations = sorted({op for name in chosen for op in blocks[name]})
    return result


def run_scope_search(models: FloatScopeModels, fp32_onnx: Path, spec: ModelSpec, search: list,
                     budgets: AccuracyDrops, progress_for: Callable, out: Path) -> dict:
    """The search of one INT8 model on the ``search`` samples, against ONNX Runtime fp32 of the export:
    ``out/model.xml`` (the scope found applied), ``quantize.json``, and ``scope.json`` (the whole trace).
    Returns the stage record."""
    if not search:
        raise EdgeusError("the float-scope search needs validation images to search on (none left after the split)")
    with OnnxRuntimeRunner(fp32_onnx, threads=models.threads, name="onnxruntime-fp32") as fp32:
        reference = predict(fp32, spec, search, keep_logits=True)

    def evaluate(float_blocks: list[str], tasks: set[str] | None):
        samples = [s for s in search if tasks is None or s.task.key in tasks]
        with models.runner(float_blocks) as runner:
            start = time.perf_counter()
            predictions = predict(runner, spec, samples, keep_logits=True)
            ms = (time.perf_counter() - start) * 1000 / len(samples)
        return agreement({k: v for k, v in reference.items() if k in predictions}, predictions, budgets), ms

    blocks = models.blocks
    with progress_for("scope search", 1 + 2 * len(blocks)) as advance:
        found = search_float_scope(blocks, evaluate, advance)
    found.search_images = len(search)
    models.save(found.float_blocks, found.float_operations, out)
    scope = {**found.to_dict(), "islands": models.islands, "search_images": len(search)}
    (out / "scope.json").write_text(json.dumps(scope, indent=1) + "\n")
    return {"float_blocks": found.float_blocks, "within": found.within, "evaluations": len(found.steps)}
