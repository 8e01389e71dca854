"""``edgeus robustness MODEL_A MODEL_B --data DIR --target P``: how much more MODEL_B (a plan) loses than
MODEL_A (its fp32 reference) under each ultrasound shift, per task (stages/robustness.py)."""

from __future__ import annotations

import argparse

from edgeus.cli.args import add_json_option, emit_json, profile_dirs


def cmd_robustness(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, status
    from edgeus.cli.evidence import _data_root, _runnable
    from edgeus.contracts.profiles import load_profile
    from edgeus.contracts.spec import load_spec
    from edgeus.data.defaults import validation_splits
    from edgeus.errors import BudgetFailed, EdgeusError
    from edgeus.models import model_spec
    from edgeus.stages.robustness import shift_grid

    families = [f.strip() for f in args.families.split(",")] if args.families else None
    try:
        severities = tuple(int(s) for s in args.severities.split(","))
        grid = shift_grid(families, severities)  # refused before any model is loaded
    except ValueError as exc:
        raise EdgeusError(f"--families/--severities: {exc}") from None
    profile = load_profile(args.target, profile_dirs(args))
    threads = args.threads or profile.runtime.threads
    ref, ref_spec = _runnable(args.reference, None, profile, threads)
    cand, cand_spec = _runnable(args.candidate, None, profile, threads)
    spec = load_spec(args.spec) if args.spec else (ref_spec or cand_spec or model_spec("uniusnet"))
    splits = validation_splits(_data_root(args), spec, True)
    if args.split not in splits:
        raise EdgeusError(f"--split {args.split}: the data has {', '.join(splits)}")
    from edgeus.stages.robustness import robustness

    with status(f"robustness on {len(splits[args.split])} {args.split} images, {len(grid)} shifts"):
        report = robustness(ref, cand, spec, splits[args.split], grid, profile.budgets.robustness, args.seed)
    print_robustness(report)
    emit_json(args.json, report.to_dict())
    failed = [d for d in report.drops if d.state == "fail"]
    if failed:
        d = failed[0]
        raise BudgetFailed(f"fragile under shift: {d.family} severity {d.severity}, {d.task} {d.metric.upper()} extra "
                           f"drop {d.extra_drop:.4f} > budget {d.budget:g}" + (f" (and {len(failed) - 1} more)"
                                                                              if len(failed) > 1 else ""))
    console.print(summary_line(report), highlight=False, markup=False)
    return 0


def summary_line(report) -> str:
    w = report.worst()
    if w is None:
        return "robustness: no extra drop could be measured"
    return (f"robustness: worst extra drop under shift {w.extra_drop:.4f} ({w.task} {w.metric.upper()}, {w.family} "
            f"severity {w.severity}; 95 % CI {_ci(w.ci)}) over {len(report.shifts)} shifts, {report.images} images")


def _ci(ci) -> str:
    return "n/a" if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def print_robustness(report) -> None:
    """One row per family and severity: the worst task's extra drop (the rest is in --json)."""
    from rich.table import Table

    from edgeus.cli.console import console, state_markup
    from edgeus.evidence.robustness import worst

    table = Table(title=f"Extra drop under shift: {report.candidate} vs {report.reference}", header_style="bold")
    for col in ("family", "severity", "worst task / metric", "extra drop [95% CI]", "budget", "verdict"):
        table.add_column(col)
    for family, severity in report.shifts:
        rows = [d for d in report.drops if d.family == family and d.severity == severity]
        w = worst(rows)
        states = {d.state for d in rows}
        state = next((s for s in ("fail", "inconclusive", "pass", "measured") if s in states), "undefined")
        table.add_row(family, str(severity), f"{w.task} {w.metric.upper()}" if w else "–",
                      f"{w.extra_drop:.4f} {_ci(w.ci)}" if w else "–",
                      f"{w.budget:g}" if w and w.budget is not None else "–", state_markup(state))
    console.print(table)


def add_robustness_command(sub: argparse._SubParsersAction, profile_opts: argparse.ArgumentParser) -> None:
    p = sub.add_parser("robustness", parents=[profile_opts],
                       help="how much more a plan loses than its fp32 reference under ultrasound shifts")
    p.add_argument("reference", help="the fp32 reference: model file/folder, or a torch model name")
    p.add_argument("candidate", help="the plan: model file or compile/quantize folder")
    p.add_argument("--target", required=True, help="device profile (runtime settings, [budgets.robustness])")
    p.add_argument("--data", help="UUSIC25 folder or phantom root (default: phantom data)")
    p.add_argument("--split", default="internal", help="which split's images (default: internal)")
    p.add_argument("--families", help="comma-separated shift families (default: all; see docs)")
    p.add_argument("--severities", default="1,3,5", help="comma-separated severities 0..5 (default: 1,3,5)")
    p.add_argument("--spec", help="model spec TOML (default: the models' own, else the uniusnet contract)")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_json_option(p, "also write the robustness report as JSON to FILE ('-': standard output)")
    p.set_defaults(handler=cmd_robustness, library_log="robustness")
