"""Terminal output: rich tables and spinners. Kept apart from the API so library use prints nothing."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from edgeus.contracts.profiles import DeviceProfile
    from edgeus.models import ModelEntry
    from edgeus.stages.export import ExportReport

import os

# Piped output (CI logs, files) has no terminal width; rich would squeeze tables into 80 columns.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on an interactive terminal, one plain line otherwise (logs stay readable)."""
    if err_console.is_terminal:
        with err_console.status(message):
            yield
    else:
        print(f"... {message}", file=sys.stderr, flush=True)
        yield


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_profiles_table(profiles: list[DeviceProfile]) -> None:
    table = Table(title="Device profiles (budgets)", header_style="bold")
    for col, right in (("name", False), ("backend", False), ("prec.", False), ("p95 ms", True),
                       ("fps", True), ("peak MB", True), ("size MB", True), ("ΔDSC", True), ("ΔAUC", True),
                       ("build", False)):
        table.add_column(col, justify="right" if right else "left", no_wrap=col == "name")
    for p in profiles:
        b = p.budgets
        trt = p.runtime.tensorrt
        table.add_row(
            p.name, p.backend.value, p.precision.value, _fmt(b.latency_p95_ms), _fmt(b.min_fps),
            f"{_fmt(b.peak_memory_mb)} {b.memory_scope}", _fmt(b.model_size_mb),
            _fmt(b.accuracy_drop.dsc_worst), _fmt(b.accuracy_drop.auc_worst),
            "device" if trt and trt.build_on_device else "here",
        )
    console.print(table)
    console.print("ΔDSC/ΔAUC: largest allowed worst-task drop. 'edgeus profiles show NAME' for the hardware.")


def _section(title: str, data: dict) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
        table.add_row(key, _fmt(value))
    return table


def print_profile(profile: DeviceProfile) -> None:
    data = profile.model_dump(mode="json")
    console.print(f"[bold]{profile.name}[/bold]: {profile.description}")
    console.print(f"backend [bold]{profile.backend.value}[/bold], precision [bold]{profile.precision.value}[/bold]")
    console.print(_section("hardware", data["hardware"]))
    runtime = {k: v for k, v in data["runtime"].items() if v is not None}
    console.print(_section("runtime", runtime))
    console.print(_section("quantization", data["quantization"]))
    budgets = dict(data["budgets"])
    drops = budgets.pop("accuracy_drop")
    console.print(_section("budgets", budgets))
    console.print(_section("accuracy drop budgets", drops))


def print_models_table(entries: list[ModelEntry]) -> None:
    table = Table(title="Built-in models", header_style="bold")
    table.add_column("name")
    table.add_column("description")
    table.add_column("embedded weights")
    for e in entries:
        table.add_row(e.name, e.description, e.default_weights or "—")
    console.print(table)


def print_export_report(report: ExportReport) -> None:
    table = Table(title=f"Export parity: {report.model} -> {report.path}", header_style="bold")
    for col in ("output", "batch", "max |diff|", "argmax agreement", "ok"):
        table.add_column(col)
    for p in report.parity:
        agreement = "—" if p["argmax_agreement"] is None else f"{p['argmax_agreement']:.4%}"
        table.add_row(p["output"], str(p["batch"]), f"{p['max_abs_diff']:.2e}", agreement,
                      "[green]yes[/green]" if p["ok"] else "[red]no[/red]")
    console.print(table)
    console.print(
        f"opset {report.opset}, traced at batch {report.trace_batch}, nodes {report.nodes_before} -> "
        f"{report.nodes_after} after onnxslim, {report.size_bytes / 1e6:.1f} MB, {report.export_time_s:.1f} s"
    )
    if report.rewrites:
        applied = ", ".join(f"{r['name']} ({r['blocks']} blocks)" for r in report.rewrites)
        console.print(f"deployment rewrites: {applied}; parity above is against the model as written")


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, plain_lines: bool = True) -> Iterator:
    """A rich progress bar; yields ``advance(label, n)``. Plain lines when not on a terminal (about ten per bar;
    none with ``plain_lines`` False, where the caller reports each stage's end itself). ``total`` None: a count
    of unknown length (a video without a frame count)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not err_console.is_terminal:
        if not plain_lines:
            yield lambda label, n=1: None
            return
        done = [0]

        step = max(1, (total or 1000) // 10)  # logs get about ten lines per bar, not one per batch

        def advance_plain(label: str, n: int = 1) -> None:
            before = done[0]
            done[0] += n
            if done[0] // step > before // step or (total is not None and done[0] >= total):
                print(f"... {description}: {label} ({done[0]}/{total})", file=sys.stderr, flush=True)

        yield advance_plain
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(label: str, n: int = 1) -> None:
            progress.update(task, advance=n, description=f"{description}: {label}")

        yield advance


def print_coverage(title: str, coverage: dict[str, int], catalog_keys: list[str]) -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("task")
    table.add_column("samples", justify="right")
    for key in catalog_keys:
        n = coverage.get(key, 0)
        table.add_row(key, str(n) if n else "[red]0[/red]")
    console.print(table)


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(ci: list) -> str:
    return "—" if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


STATE_STYLE = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]",
               "inconclusive": "[yellow]inconclusive[/yellow]", "pending": "[cyan]pending[/cyan]"}


def state_markup(state: str) -> str:
    return STATE_STYLE.get(state, f"[dim]{state or '—'}[/dim]")


def print_accuracy_report(report) -> None:
    for split, sr in report.splits.items():
        table = Table(title=f"Accuracy, {split} split: {report.reference} (ref) vs {report.candidate}", header_style="bold")
        for col in ("task", "n", "metric", "reference [95% CI]", "candidate [95% CI]", "drop [paired 95% CI]",
                    "budget", "fidelity", "verdict"):
            table.add_column(col)
        for key, task in sr.tasks.items():
            fid = task.fidelity
            fid_text = (f"mask Dice {fid['mask_dice_vs_reference']:.4f}" if "mask_dice_vs_reference" in fid
                        else f"argmax agree {fid['argmax_agreement']:.3f}") + f", max|Δlogit| {fid['max_abs_logit_diff']:.2g}"
            if fid["non_finite_outputs"]:
                fid_text = "[red]NaN/Inf[/red]"
            for i, (metric, m) in enumerate(task.metrics.items()):
                verdict = state_markup(m.state)
                table.add_row(key if i == 0 else "", str(task.n) if i == 0 else "", metric.upper(),
                              f"{_num(m.reference)} {_ci(m.reference_ci)}", f"{_num(m.candidate)} {_ci(m.candidate_ci)}",
                              f"{_num(m.drop, 4)} {_ci(m.drop_ci)}", f"{m.budget:g}", fid_text if i == 0 else "", verdict)
        console.print(table)


def print_perf_report(perf) -> None:
    table = Table(title=f"Performance: {perf.model} on {perf.machine.get('cpu')}", header_style="bold")
    for col in ("", "n", "min", "mean", "median", "p90", "p95", "p99", "max", "std", "CoV"):
        table.add_column(col, justify="right")
    for label, s in (("compute (ms)", perf.compute), ("end to end (ms)", perf.end_to_end)):
        table.add_row(label, str(s.n), *(f"{v:.2f}" for v in (s.min_ms, s.mean_ms, s.median_ms, s.p90_ms, s.p95_ms,
                                                                s.p99_ms, s.max_ms, s.std_ms)), f"{s.cov:.1%}")
    console.print(table)
    tput = ", ".join(f"batch {b}: {v:.1f} img/s" for b, v in perf.throughput.items())
    gpu = f", GPU peak {perf.peak_gpu_mb:.0f} MiB" if perf.peak_gpu_mb is not None else ""
    console.print(f"cold start: load {perf.load_s:.2f} s, first inference {perf.first_inference_ms:.1f} ms; throughput {tput}")
    if perf.pipelined:
        p = perf.pipelined
        console.print(f"pipelined end to end ({p.get('streams', 1)}-stream engine): {p['images_per_s']:.1f} img/s = "
                      f"{p['vs_compute']:.2f}x that engine's compute-only ({p['compute_images_per_s']:.1f} img/s)"
                      + (f", {p['vs_latency_engine_compute']:.2f}x the latency engine's "
                         f"({p['latency_engine_compute_images_per_s']:.1f} img/s)" if "vs_latency_engine_compute" in p else "")
                      + f"; serial {p['serial_images_per_s']:.1f} img/s")
    console.print(f"memory: peak {perf.peak_rss_mb:.0f} MiB ({perf.rss_above_baseline_mb:.0f} above baseline){gpu}, "
                  f"{perf.memory_source}; model {perf.model_size_mb:.1f} MiB on disk")
    from edgeus.uusic25.leaderboard import leaderboard

    board = Table(title="UUSIC25 test set (2,479 images), end to end", header_style="bold")
    for col in ("entry", "time s", "peak memory GB", "hardware"):
        board.add_column(col)
    board.add_row(f"[bold]this model ({perf.backend})[/bold]", f"{perf.projected_uusic25_s:.1f} (projected)",
                  f"{perf.peak_rss_mb / 1024:.2f} (process RSS)", f"{perf.machine.get('cpu')}, {perf.machine.get('cores')} cores")
    for row in leaderboard()[:5]:
        board.add_row(f"#{row['rank']} {row['codename']}", row["time_s"], f"{row['gpu_mem_gb']} (GPU)",
                      "challenge GPU (not published)")
    console.print(board)
    console.print("The leaderboard ran on the challenge's GPU server, this projection on the machine above: compare "
                  "orders of magnitude, not ranks.")
    for w in perf.warnings:
        console.print(f"[yellow]warning[/yellow]: {w}")


def _g(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def print_conformance(report) -> None:
    """``edgeus verify``: one row per conformance vector."""
    if not report.vectors:
        return
    table = Table(title=f"Conformance on {report.ran_on} ({report.backend}, engine {report.engine_status})",
                  header_style="bold")
    for col in ("task", "output", "vs bundle outputs", "tol", "vs fp32 reference", "tol", "argmax agreement", "verdict"):
        table.add_column(col)
    for v in report.vectors:
        table.add_row(v.task, v.output, _g(v.bundle_deviation), _g(v.bundle_atol), _g(v.reference_deviation),
                      _g(v.reference_atol), _g(v.agreement), state_markup("pass" if v.passed else "fail"))
    console.print(table)


COMPARE_COLUMNS = (("profile", "profile"), ("runs", "backend"), ("size_mb", "MiB"), ("p50_ms", "p50 ms"),
                   ("p95_ms", "p95 ms"), ("fps", "fps"), ("peak_memory_mb", "peak mem MiB"), ("macro_dsc", "DSC"),
                   ("macro_nsd", "NSD"), ("macro_auc", "AUC"), ("score", "score"), ("worst_drop", "worst-task drop"),
                   ("verdict", "verdict"))


def print_compare_table(rows) -> None:
    """``edgeus compare``: builds side by side; the verdict cell keeps its first word (the gates go below)."""
    table = Table(title="Builds side by side (internal split; latency where each was profiled)", header_style="bold")
    for _, header in COMPARE_COLUMNS:
        table.add_column(header, no_wrap=True)
    for r in rows:
        values = {**r.__dict__, "runs": f"{r.backend} {r.precision}", "verdict": r.verdict.split(":")[0]}
        table.add_row(*[_g(v, 3 if abs(v) < 1 else 4) if isinstance(v, float) else "–" if v is None else str(v)
                        for v in (values[f] for f, _ in COMPARE_COLUMNS)])
    console.print(table)


def print_contract_score(result) -> None:
    """``edgeus uusic25 score``: the official metrics per task and the final-score components."""
    table = Table(title="UUSIC25 official metrics", header_style="bold")
    for col in ("task", "n", "DSC", "NSD", "AUC", "ACC"):
        table.add_column(col)
    for key, t in result.tasks.items():
        table.add_row(key, str(t["n"]), *(_g(t.get(m)) for m in ("dsc", "nsd", "auc", "acc")))
    console.print(table)
    comp = Table(title="Final-score components", header_style="bold")
    comp.add_column("component")
    comp.add_column("value")
    for k, v in result.components.items():
        comp.add_row(k, _g(v))
    console.print(comp)


def print_farm_outcomes(outcomes) -> None:
    from edgeus.util.device_identity import describe

    table = Table(title="targets", header_style="bold")
    for col in ("target", "state", "measured on", "shared stages", "bundle", "reason"):
        table.add_column(col)
    for o in outcomes:
        state = {"done": "[green]done[/green]" if o.passed is not False else "[yellow]done, gate blocked[/yellow]",
                 "failed": "[red]failed[/red]"}.get(o.state, o.state)
        table.add_row(o.target, state, describe(o.device) if o.device else "-", ", ".join(o.reused) or "-",
                      o.bundle or "-", o.reason)
    console.print(table)


def print_farm_status(nodes: list[dict]) -> None:
    from edgeus.util.device_identity import describe

    table = Table(title="farm", header_style="bold")
    for col in ("node", "device", "ISA", "backends", "serves"):
        table.add_column(col)
    for n in nodes:
        ident = n.get("identity") or {}
        table.add_row(f"{n['address']} {n['node_id'][:8]}", describe(ident) if ident else ("head" if not n["device"] else "?"),
                      ", ".join(ident.get("cpu_features", [])[-4:]) or "-", ", ".join(ident.get("backends", [])) or "-",
                      ", ".join(n["profiles"]) or "-")
    console.print(table)
