"""The float-scope search on a scripted evaluation: it reverts the block that hurts, most harmful first."""

from edgeus.evidence.agreement import TaskAgreement
from edgeus.stages.scope_search import benefit, search_float_scope

BLOCKS = {"/enc/a": ["/enc/a/MatMul"], "/enc/b": ["/enc/b/MatMul"], "/head4": ["/head4/Conv"],
          "/seg": ["/seg/Conv"]}


def scripted(harm: dict[str, dict[str, float]]):
    """ratio of each task = 0.5 + the harm of each INT8 block left (harm[block][task])."""
    calls = []

    def evaluate(float_blocks, tasks):
        calls.append((tuple(float_blocks), tasks))
        ratios = {t: 0.5 + sum(h.get(t, 0.0) for b, h in harm.items() if b not in float_blocks)
                  for t in ("Liver", "Kidney")}
        ratios = {t: r for t, r in ratios.items() if tasks is None or t in tasks}
        return {t: TaskAgreement(t, "classification", 6, {"x": r}, {"x": 1.0}, r, "x") for t, r in ratios.items()}, 1.0

    return evaluate, calls


def test_reverts_the_harmful_block_first_and_stops_when_every_task_holds():
    evaluate, calls = scripted({"/head4": {"Liver": 3.0}, "/enc/b": {"Liver": 0.2}, "/seg": {"Kidney": 0.1}})
    found = search_float_scope(BLOCKS, evaluate)
    assert found.within and found.float_blocks == ["/head4"]
    assert found.float_operations == ["/head4/Conv"]
    phases = [s.phase for s in found.steps]
    assert phases == ["start", "rank", "rank", "rank", "rank", "revert"]
    assert found.steps[0].worst_task == "Liver" and found.steps[0].ratios["Liver"] == 3.7
    # ranking only evaluates the tasks over their thresholds
    assert [tasks for _, tasks in calls] == [None, {"Liver"}, {"Liver"}, {"Liver"}, {"Liver"}, None]


def test_several_blocks_together_and_a_scope_that_cannot_hold():
    evaluate, _ = scripted({"/enc/a": {"Liver": 0.6}, "/enc/b": {"Liver": 0.55}})
    found = search_float_scope(BLOCKS, evaluate)  # 1.65 -> 1.05 (still over) -> 0.5
    assert found.within and found.float_blocks == ["/enc/a", "/enc/b"]
    assert [s.within for s in found.steps if s.phase == "revert"] == [False, True]
    hopeless, _ = scripted({})

    def never(float_blocks, tasks):
        result, ms = hopeless(float_blocks, tasks)
        return {t: TaskAgreement(t, "classification", 6, {"x": 2.0}, {"x": 1.0}, 2.0, "x") for t in result}, ms
    failed = search_float_scope(BLOCKS, never)
    assert not failed.within and sorted(failed.float_blocks) == sorted(BLOCKS)


def test_benefit_counts_only_tasks_over_budget():
    assert benefit({"a": 2.0, "b": 0.9}, {"a": 1.5, "b": 0.1}) == 0.5
