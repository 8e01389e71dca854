"""Terminal output of a build: its stages as they run, the plans table, the verdicts and the summary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.table import Table

from edgeus.cli.console import _ci, _num, console, err_console, state_markup


def print_verdicts(verdicts, title: str = "Budget verdicts", strict: bool = False, explain: bool = True) -> None:
    """One row per gate with its state and why; inconclusive gates are explained under the table. Without
    ``explain`` (a build without -v) only the gates that did not pass get a row, the passing ones one line, and
    the inconclusive ones are named (their explanations are in report.md)."""
    shown = verdicts if explain else [v for v in verdicts if v.state != "pass"]
    passing = [v for v in verdicts if v.state == "pass"]
    if not explain and passing:
        kinds = dict.fromkeys(f"{v.item.split(':')[0]} accuracy drops" if v.item.startswith(("internal:", "external:"))
                              else v.item.split(" (")[0] for v in passing)
        console.print(f"[green]{len(passing)} gate(s) pass[/green]: {', '.join(kinds)}", highlight=False)
    if not shown:
        return
    table = Table(title=title if explain else f"{title} that did not pass", header_style="bold")
    for col in ("item", "measured [95% CI]", "budget", "verdict", "why"):
        table.add_column(col)
    for v in shown:
        measured = "—" if v.measured is None else f"{v.measured:.4g} {v.unit}".strip()
        if v.ci and v.ci[0] is not None:
            measured += f" {_ci(v.ci)}"
        state = state_markup(v.state) + (" [red](blocks: strict)[/red]" if strict and v.state == "inconclusive" else "")
        see = "; see below" if explain else ""
        why = (v.note if v.state != "inconclusive" else
               f"off-target: projected {v.projected:.4g} {v.unit} on the device{see}"
               if getattr(v, "off_target", False) and v.projected is not None else
               f"off-target, no projection{see}" if getattr(v, "off_target", False) else
               f"not checked on the target ISA{see}" if v.item.startswith("conformance on") else
               f"CI spans the budget and 0{see}")
        table.add_row(v.item, measured, f"{v.budget:g} {v.unit}".strip(), state, why)
    console.print(table)
    undecided = [v for v in verdicts if v.state == "inconclusive"]
    if undecided and not explain:
        console.print(f"[yellow]{len(undecided)} inconclusive[/yellow]: {', '.join(v.item for v in undecided)} "
                      "(why, and how many images would decide each: report.md, or -v)", highlight=False)
        return
    for v in undecided:
        console.print(f"[yellow]inconclusive[/yellow] {v.item}: {v.note}", markup=True, highlight=False)


def blocking_summary(verdicts, strict: bool) -> str:
    """The blocking gates named in one line (for the exit message)."""
    from edgeus.pipeline.verdicts import blocking

    return "; ".join(f"{v.item} {v.state}" for v in blocking(verdicts, strict)) or "none"


def lead_lines(profile, options) -> list[str]:
    """What a reader needs before anything else (printed first): the target, the plan asked for, and whether
    the evidence will be synthetic (phantom data: no --data, or a folder the phantom generator wrote)."""
    from pathlib import Path

    data = Path(options.data) if options.data else None
    synthetic = data is None or (data / "phantom.json").is_file()
    lines = [f"edgeus build: {options.model} for {profile.name} ({profile.hardware.device}; {profile.backend.value}, "
             f"plan {options.plan or profile.plan})"]
    if synthetic:
        lines.append("[yellow]evidence is synthetic[/yellow]: calibration and validation run on phantom images "
                     f"({'generated' if data is None else data.name}); pass --data DIR for real images")
    return lines


@contextlib.contextmanager
def stage_reporter(start_lines: bool | None = None) -> Iterator:
    """Progress lines for a build's stages. On a terminal (or with ``start_lines``: ``-v``) each stage's start
    and end, "reused cached stage" or "done in N s"; otherwise one line per plan ("int8-hint: quantize reused,
    compile reused, validate done in 8.1 s") and per build stage, so a log stays short."""
    import time as _time

    starts: dict[str, float] = {}
    detailed = err_console.is_terminal if start_lines is None else start_lines
    plan_line: list = []  # [plan, [step summaries]]: the plan whose stages are being gathered

    def flush() -> None:
        if plan_line:
            err_console.print(f"  {plan_line[0]}: {', '.join(plan_line[1])}", highlight=False, markup=False)
            plan_line.clear()

    def on_stage(name: str, result) -> None:
        if result is None:
            starts[name] = _time.perf_counter()
            if detailed:
                err_console.print(f"[bold]▶ {name}[/bold] …")
            return
        took = _time.perf_counter() - starts.get(name, _time.perf_counter())
        if detailed:
            if result.cached:
                err_console.print(f"  [cyan]{name}: reused cached stage {result.path.name}[/cyan]")
            else:
                err_console.print(f"  [green]{name}: done in {took:.1f} s[/green] -> {result.path.name}")
            return
        plan, _, step = name.partition(" ")
        if not step:  # a stage of the build itself (export, profile, bundle): a line of its own
            flush()
            err_console.print(f"  {name}: " + ("reused cached stage" if result.cached else f"done in {took:.1f} s"),
                              highlight=False, markup=False)
            return
        if plan_line and plan_line[0] != plan:
            flush()
        if not plan_line:
            plan_line.extend([plan, []])
        plan_line[1].append(f"{step} reused" if result.cached else f"{step} done in {took:.1f} s")

    try:
        yield on_stage
    finally:
        flush()


def print_plans(plans, full: bool = True) -> None:
    """The candidate plans side by side: latency, speed-up over fp32, worst drop, state and why; with ``full``
    the stage ledger too (a row per split, task and metric: report.md always has it)."""
    if plans is None:
        return
    table = Table(title=f"Plans ({plans.timing_note}; gates on {sum(plans.confirm_images.values())} held-out images)",
                  header_style="bold")
    # compact (a default build): the columns a reader decides by; p95 and the precision each ran in are in
    # report.md and with -v (rows that wrap cost the console its ~60-line budget)
    columns = ("plan", "median ms", "p95 ms", "vs fp32", "ran as", "worst drop", "state", "why")
    shown = [c for c in columns if full or c not in ("p95 ms", "ran as")]
    for col in shown:
        table.add_column(col)

    def add_row(*cells: str) -> None:
        table.add_row(*(cell for col, cell in zip(columns, cells) if col in shown))

    for run in sorted(plans.runs, key=lambda r: r.timing["median_ms"] if r.timing else float("inf")):
        row = run.row()
        state = {"chosen": "[bold green]chosen[/bold green]", "pass": "[green]pass[/green]",
                 "rejected": "[red]rejected[/red]", "error": "[red]error[/red]"}.get(run.state, run.state)
        if row["inconclusive"] and run.passed:  # passing with gates that could not decide is not a clean pass
            state += f" [yellow]({row['inconclusive']} inconclusive)[/yellow]"
        where = row["worst_drop_where"] or ""
        if not full:  # "external Appendix AUC": the kind is in the metric's name
            where = where.replace("/classification", "").replace("/segmentation", "")
        worst = f"{row['worst_drop']:.4f} ({where})" if row["worst_drop"] is not None else "-"
        add_row(run.plan.name, _num(row["median_ms"], 1), _num(row["p95_ms"], 1),
                f"{row['speedup_vs_fp32']:.2f}x" if row["speedup_vs_fp32"] else "-",
                str(row["ran_as"] or "-"), worst, state, run.reason)
    from edgeus.report.render import delegation_lines, peer_sentence

    shipped = plans.shipped.row() if plans.shipped else None
    own_fp32 = {f"{r.plan.backend.value} fp32" for r in plans.runs if r.plan.compute == "fp32"}
    for name, t in sorted(plans.peers.items(), key=lambda kv: kv[1]["median_ms"]):
        if name not in own_fp32:  # a runtime's fp32 that is a plan has its row already
            add_row(name, _num(t["median_ms"], 1), _num(t["p95_ms"], 1), "-", "-", "-", "[dim]peer[/dim]",
                    peer_sentence(shipped, name))
    by_reason: dict[str, list[str]] = {}
    for name, why in plans.excluded.items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        if full:
            add_row(", ".join(names), "-", "-", "-", "-", "-", "[dim]not built[/dim]", why)
    console.print(table)
    if not full:
        for why, names in by_reason.items():
            console.print(f"[dim]not built: {len(names)} plan(s) ({', '.join(names)}): {why}[/dim]", highlight=False)
    delegated = delegation_lines([r.row() for r in plans.runs])
    if delegated:
        console.print("delegation (ExecuTorch): " + "; ".join(delegated), highlight=False)
    search = next((r.search for r in plans.runs if r.search), None)
    if search:
        console.print(f"int8-auto float scope: {len(search['float_blocks'])} of {len(search['blocks'])} blocks in float "
                      f"({', '.join(search['float_blocks']) or 'none'}), searched on {search['search_images']} images "
                      f"in {len(search['steps'])} evaluations; {'every task within budget' if search['within'] else 'NOT every task within budget'} "
                      "on the search part", highlight=False)
    if plans.ledger and full:
        ledger = Table(title="Stage ledger: each task's drop vs torch fp32, stage by stage (held-out images)",
                       header_style="bold")
        ledger.add_column("split / task")
        for stage in plans.ledger:
            ledger.add_column(stage["stage"])
        first = plans.ledger[0]["drops"]
        for split, tasks in first.items():
            for task, metrics in tasks.items():
                for metric in metrics:
                    cells = []
                    for stage in plans.ledger:
                        value = stage["drops"].get(split, {}).get(task, {}).get(metric)
                        cells.append(_num(value, 4))
                    ledger.add_row(f"{split} {task} {metric.upper()}", *cells)
        console.print(ledger)


def shipped_plan(result, profile) -> str:
    """The plan the build's bundle carries (the profile's one where no plan search ran: a deferred engine)."""
    plans = result.plans
    if plans is not None and plans.shipped is not None:
        return plans.shipped.plan.name
    return ((result.manifest or {}).get("target") or {}).get("plan") or profile.plan  # the bundle names its plan


def headline(result, profile) -> str:
    """The build's one-line answer, printed before the tables: the plan that ships and its verdict."""
    from edgeus.pipeline.verdicts import state_counts

    plans, shipped = result.plans, shipped_plan(result, profile)
    counts = state_counts(result.verdicts)
    if not result.passed:
        verdict = "[red]FAILED[/red] (budget gates blocked)"
    elif counts.get("inconclusive"):
        verdict = f"[green]PASSED[/green], [yellow]{counts['inconclusive']} gate(s) inconclusive[/yellow]"
    else:
        verdict = "[green]PASSED[/green]"
    chosen = "ships" if plans is None or plans.chosen is not None else "ships as the closest (no plan passes)"
    runtime = ""
    if plans is not None and plans.shipped is not None and len({r.plan.backend for r in plans.runs}) > 1:
        runtime = f" ({plans.shipped.plan.backend.value})"  # several runtimes were weighed: say which one ships
    return f"{profile.name}: plan [bold]{shipped}[/bold]{runtime} {chosen}: {verdict}; bundle {result.run_dir}"


def print_build_summary(result, strict: bool = False, verbose: bool = False) -> None:
    if verbose:
        table = Table(title=f"Build summary: {result.run_dir}", header_style="bold")
        table.add_column("stage")
        table.add_column("status")
        table.add_column("folder")
        for s in result.stages:
            table.add_row(s.name, "cached" if s.cached else "ran", str(s.path.name))
        console.print(table)
    from edgeus.pipeline.verdicts import state_counts

    counts = state_counts(result.verdicts)
    tally = ", ".join(f"{n} {state}" for state, n in counts.items())
    if not result.passed:
        verdict = f"[red]budget gates blocked (exit 2)[/red] ({tally})"
    elif counts.get("inconclusive"):
        verdict = f"[yellow]no gate failed; {counts['inconclusive']} inconclusive (warn; --strict blocks)[/yellow] ({tally})"
    else:
        verdict = f"[green]all budgets met[/green] ({tally})"
    print_library_warnings(result)
    if getattr(result, "robustness", None):
        from edgeus.pipeline.robustness import summary

        console.print(summary(result.robustness), highlight=False, markup=False)
    if result.target_conformance is not None:
        record = result.target_conformance
        colour = {"pass": "green", "fail": "red"}.get(record.state, "yellow")
        console.print(f"[{colour}]{record.summary()}[/{colour}]", highlight=False)
    # vectors recorded on the emulated core hold that core's numbers: this machine checks them only emulated
    on_core = result.target_conformance is not None and getattr(result.target_conformance, "recorded_on_core", None)
    check = "'edgeus verify --emulate' checks it here" if on_core else "'edgeus verify' checks it"
    console.print(f"{verdict}; bundle {result.run_dir} ({check}; every table is in its report.md, or -v here)",
                  highlight=False)
    data = result.data or {}
    if data.get("synthetic"):
        console.print("[yellow]evidence is synthetic[/yellow]: calibration and validation ran on phantom images "
                      f"(seed {data.get('seed')}); run with --data for patient data")


def print_library_warnings(result) -> None:
    """One line on where library logs went, and the distinct warnings they held (the first few)."""
    logs = getattr(result, "logs", None)
    if logs is None:
        return
    if logs.warnings:
        console.print(f"{len(logs.warnings)} distinct library warning(s), in full in {logs.path}:", highlight=False)
        for line in logs.summary():
            console.print(f"  [yellow]•[/yellow] {line}", markup=True, highlight=False)
    else:
        console.print(f"[dim]library logs: {logs.path} (no warnings)[/dim]", highlight=False)


