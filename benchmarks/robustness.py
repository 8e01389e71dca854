"""Robustness under ultrasound shift: every plan's extra drop beyond fp32, per family and severity.

    python benchmarks/robustness.py [--models uniusnet-small,uniusnet] [--targets cpu-x86-scanner]
                                    [--severities 1,2,3,4,5] [--images-per-row 4] [--threads 2]
                                    [--ort-models uniusnet-small] [--out benchmarks/results]

For each model and target, ``edgeus.build`` runs its plan search (every plan the target can run and this
machine can measure; the same target with ONNX Runtime as its backend for the ``--ort-models``), with the
build's own robustness stage off: here every plan is measured, on the same images, against one reference,
torch fp32 of the model (stages/robustness.robustness_of_each: the reference's shifted predictions are made
once). Images: the first ``--images-per-row`` of each task row of the plans' confirm split (images no plan
was calibrated or searched on). Shifts: every family of data/shifts.py at each severity.

The extra drop of a plan under a shift is (fp32 shifted - plan shifted) - (fp32 clean - plan clean) of a
task's metric (evidence/robustness.py), > 0 when the plan loses more than fp32. Each table cell is the worst
extra drop over tasks and metrics (DSC, NSD, AUC, accuracy) at that severity; its task and metric are in the
JSON, with every drop's paired 95 % interval. With a few images per task row the intervals are wide: a cell
says where to look, the JSON how sure it is.

Results: ``results/robustness.json`` and ``results/robustness.md``, the machine's CPU and ISA and the
libraries' versions beside every table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cpu_backends import machine
from plans import measured_here, model_inputs, ort_profile_of

import edgeus
from edgeus.backends.registry import open_runner
from edgeus.backends.torch import TorchRunner
from edgeus.data.shifts import FAMILIES
from edgeus.pipeline.robustness import robustness_samples
from edgeus.stages.robustness import robustness_of_each, shift_grid
from edgeus.util.toolchain import toolchain_versions


def build_plans(model: str, weights: Path | None, targets: list[str], work: Path, threads: int, data: Path,
                with_ort: bool) -> list:
    """Every built plan of every target's plan search: (label, run)."""
    plans = []
    for target in targets:
        base = measured_here(edgeus.load_profile(target))
        for profile in (base, ort_profile_of(base)) if with_ort else (base,):
            start = time.perf_counter()
            options = edgeus.BuildOptions(model=model, checkpoint=str(weights) if weights else None, data=data,
                                          out=work / "out", threads=threads, force=True, plan="auto",
                                          profile_min_iters=5, profile_min_duration_s=0.5, robustness=False)
            try:
                result = edgeus.build(profile, options)
            except edgeus.EdgeusError as exc:
                print(f"  {model} {profile.name}: {exc}", flush=True)
                continue
            print(f"  {model} {profile.name}: built in {time.perf_counter() - start:.0f} s", flush=True)
            for run in result.plans.runs:
                if run.model_dir is not None:
                    chosen = result.plans.chosen is run
                    plans.append((f"{profile.backend.value} {run.plan.name}", run, profile.name, chosen,
                                  result.plans.confirm["internal"]))
    return plans


def measure(model: str, weights: Path | None, plans: list, grid: list, images_per_row: int, threads: int) -> dict:
    loaded = edgeus.load_model(model, str(weights) if weights else None)
    samples = robustness_samples(plans[0][4], images_per_row)
    reference = TorchRunner(loaded.module, loaded.spec, threads=threads, name="torch fp32")
    candidates = [open_runner(run.model_dir, run.profile, threads) for _, run, *_ in plans]
    for (label, *_), runner in zip(plans, candidates):
        runner.name = label
    start = time.perf_counter()
    reports = robustness_of_each(reference, candidates, loaded.spec, samples, grid,
                                 progress=lambda label: print(f"    {label}", flush=True))
    seconds = time.perf_counter() - start
    rows = {}
    for (label, run, target, chosen, _), report in zip(plans, reports):
        rows[label] = {"target": target, "chosen": chosen, "plan": run.plan.name,
                       "drops": [d.to_dict() for d in report.drops]}
    return {"images": len(samples), "images_per_row": images_per_row, "seconds": round(seconds, 1),
            "reference": reference.name, "plans": rows}


def worst_cell(drops: list[dict], family: str, severity: int) -> dict | None:
    valued = [d for d in drops if d["family"] == family and d["severity"] == severity and d["extra_drop"] is not None]
    return max(valued, key=lambda d: d["extra_drop"]) if valued else None


def markdown(results: dict) -> str:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    lines = [f"**Machine**: {m['cpu']}, {m['cores']} cores; ISA {', '.join(m['isa'])}. Threads: {results['threads']}.",
             f"**Libraries**: {versions}.", ""]
    for model, r in results["models"].items():
        sev = results["severities"]
        lines += [f"### {model}: worst extra drop beyond torch fp32 per family, severities {', '.join(map(str, sev))} "
                  f"({r['images']} images, {r['images_per_row']} per task row; {m['cpu']}, ISA {', '.join(m['isa'])})",
                  "", "| plan | " + " | ".join(results["families"]) + " |",
                  "|---|" + "---|" * len(results["families"])]
        for label, row in r["plans"].items():
            cells = []
            for family in results["families"]:
                values = [worst_cell(row["drops"], family, s) for s in sev]
                cells.append(" / ".join("-" if v is None else f"{v['extra_drop']:+.2f}" for v in values))
            mark = " (chosen for " + row["target"] + ")" if row["chosen"] else ""
            lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")
        lines += ["", "Largest extra drops (task, metric, 95 % CI):", ""]
        every = [(label, d) for label, row in r["plans"].items() for d in row["drops"] if d["extra_drop"] is not None]
        for label, d in sorted(every, key=lambda x: -x[1]["extra_drop"])[:8]:
            ci = d["ci"] if d["ci"] and d["ci"][0] is not None else None
            lines.append(f"- {label}: {d['family']} severity {d['severity']}, {d['task']} {d['metric'].upper()} "
                         f"{d['extra_drop']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
                         + f" (fp32 {d['reference_clean']:.3f} -> {d['reference_shifted']:.3f}, plan "
                         f"{d['candidate_clean']:.3f} -> {d['candidate_shifted']:.3f})")
        lines.append("")
    return "\n".join(lines)


def rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="uniusnet-small,uniusnet")
    parser.add_argument("--targets", default="cpu-x86-scanner")
    parser.add_argument("--ort-models", default="uniusnet-small",
                        help="models whose targets are also built with ONNX Runtime as the backend")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--images-per-row", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-task", type=int, default=12, help="phantom images per task row and split")
    parser.add_argument("--work", default="/tmp/edgeus-bench-robustness")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    families, severities = args.families.split(","), [int(s) for s in args.severities.split(",")]
    grid = shift_grid(families, tuple(severities))
    results = {"machine": machine(), "versions": toolchain_versions(), "threads": args.threads,
               "targets": args.targets.split(","), "families": families, "severities": severities, "models": {}}
    out = Path(args.out)
    earlier = json.loads((out / "robustness.json").read_text()) if (out / "robustness.json").is_file() else {}
    if earlier.get("machine") == results["machine"] and earlier.get("families") == families \
            and earlier.get("severities") == severities:
        results["models"] = earlier["models"]  # models measured by an earlier run on this machine stay beside
    for model in args.models.split(","):
        print(f"{model}:", flush=True)
        weights, data = model_inputs(model, work, args.per_task)
        plans = build_plans(model, weights, args.targets.split(","), work / model, args.threads, data,
                            model in args.ort_models.split(","))
        results["models"][model] = measure(model, weights, plans, grid, args.images_per_row, args.threads)
        # compact, figures to 4 decimals: every drop of every plan is kept (a few MB indented)
        (out / "robustness.json").write_text(json.dumps(rounded(results), separators=(",", ":"), default=str) + "\n")
        (out / "robustness.md").write_text(markdown(results) + "\n")
        print(markdown({**results, "models": {model: results["models"][model]}}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
