"""``edgeus compare``: several builds side by side — one table and a latency/accuracy/memory Pareto plot.

Inputs are bundle folders (their manifest.json carries every summary needed). The accuracy score is the
challenge's: (Seg + Cls) / 2 with Seg = mean over segmentation tasks of (DSC + NSD) / 2 and Cls = mean over
classification tasks of (AUC + ACC) / 2, from the candidate's internal-split metrics.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeus.evidence.challenge_score import mean_present, seg_cls_scores
from edgeus.runtime.manifest import BundleError, check_files, read_manifest


@dataclass
class CompareRow:
    bundle: str
    profile: str
    device: str
    backend: str
    precision: str
    engine: str
    size_mb: float | None
    p50_ms: float | None
    p95_ms: float | None
    e2e_p50_ms: float | None
    fps: float | None
    peak_memory_mb: float | None
    macro_dsc: float | None
    macro_nsd: float | None
    macro_auc: float | None
    score: float | None
    worst_drop: str
    verdict: str
    measured_on: str
    evidence: str   # where the accuracy came from: "synthetic (phantom, seed 5)" or the named real data


def evidence_of(manifest: dict) -> str:
    data = manifest.get("data") or {}
    if not data:
        return "unknown (no data record)"
    if data.get("synthetic"):
        return f"synthetic ({data.get('source', 'phantom')}, seed {data.get('seed')})"
    return f"real ({data.get('root_name') or data.get('source', 'named data')})"


def row_of(bundle: Path) -> CompareRow:
    m = read_manifest(bundle)
    problems = check_files(bundle, m)  # the figures compared are only as good as the files they came with
    if problems:
        raise BundleError(f"{bundle} does not match its manifest ({'; '.join(problems[:2])}"
                          f"{f' and {len(problems) - 2} more' if len(problems) > 2 else ''}): compare reads only intact "
                          "bundles (see 'edgeus verify')")
    split = m["accuracy"]["splits"].get("internal") or next(iter(m["accuracy"]["splits"].values()), {"tasks": {}, "worst": {}})
    tasks = split["tasks"]

    def cand(metric: str) -> list[float | None]:
        return [t[metric]["candidate"] for t in tasks.values() if metric in t]

    _, _, score = seg_cls_scores({key: {m: c["candidate"] for m, c in t.items() if isinstance(c, dict)}
                                  for key, t in tasks.items()})
    worst = max(split.get("worst", {}).items(), key=lambda kv: kv[1]["drop"], default=None)
    short = (worst[1]["task"].replace("/segmentation", "-seg").replace("/classification", "-cls")) if worst else ""
    worst_text = f"{worst[0].upper()} {worst[1]['drop']:+.3f} {short}" if worst else "–"
    perf = m.get("performance") or {}
    memory = perf.get("peak_gpu_mb") if m["profile"].get("budgets", {}).get("memory_scope") == "gpu" else perf.get("peak_rss_mb")
    return CompareRow(
        bundle=bundle.name, profile=m["target"]["profile"], device=m["target"]["device"],
        backend=m["target"]["backend"], precision=_precision(m["target"]), engine=m["engine"]["status"],
        size_mb=perf.get("model_size_mb"), p50_ms=perf.get("p50_ms"), p95_ms=perf.get("p95_ms"),
        e2e_p50_ms=perf.get("end_to_end_p50_ms"), fps=perf.get("fps"), peak_memory_mb=memory,
        macro_dsc=mean_present(cand("dsc")), macro_nsd=mean_present(cand("nsd")),
        macro_auc=mean_present(cand("auc")),
        score=score, worst_drop=worst_text,
        verdict=verdict_text(m), measured_on=_measured_on(bundle, perf), evidence=evidence_of(m))


def _precision(target: dict) -> str:
    """The precision, and the plan where the plan says more ("fp16 (w8)": Core ML's INT8 weights computed in
    fp16; "int8 (int8-hint)")."""
    plan = target.get("plan")
    return f"{target['precision']} ({plan})" if plan and plan != target["precision"] else target["precision"]


def _measured_on(bundle: Path, perf: dict) -> str:
    """The device the figures come from: its identity in perf.json (a farm device names itself, e.g.
    'scanner-a (Core i7-1185G7, 4 cores)'), else the profiling machine's CPU."""
    try:
        device = json.loads((bundle / "perf.json").read_text()).get("device")
    except (OSError, ValueError):
        device = None
    if device and device.get("name"):
        from edgeus.util.device_identity import describe

        return describe(device)
    return (perf.get("machine") or {}).get("cpu", "–")


def verdict_text(manifest: dict) -> str:
    """'pass', 'pass (N inconclusive: ...)' or 'FAIL: ...' with the gates named: the table's drop columns show
    the internal split only, and a gate can fail elsewhere (the external split, memory)."""
    verdicts = manifest.get("verdicts", [])
    failed = [v["item"] for v in verdicts if _state(v) == "fail"]
    inconclusive = [v["item"] for v in verdicts if _state(v) == "inconclusive"]
    if manifest["passed"]:
        return f"pass ({len(inconclusive)} inconclusive: {'; '.join(inconclusive)})" if inconclusive else "pass"
    blocked = failed or [f"{item} (inconclusive, strict)" for item in inconclusive]
    return "FAIL: " + "; ".join(blocked) if blocked else "FAIL"


def _state(verdict: dict) -> str:
    return verdict.get("state") or {True: "pass", False: "fail"}.get(verdict.get("passed"), "n/a")


def leaderboard_points() -> list[dict]:
    from edgeus.uusic25.leaderboard import UUSIC25_TEST_IMAGES, leaderboard

    points = []
    for row in leaderboard():
        points.append({"label": row["codename"], "latency_ms": float(row["time_s"]) * 1000 / UUSIC25_TEST_IMAGES,
                       "score": (float(row["seg_score"]) + float(row["cls_score"])) / 2,
                       "memory_mb": float(row["gpu_mem_gb"]) * 1024})
    return points


def to_markdown(rows: list[CompareRow]) -> str:
    cols = list(CompareRow.__dataclass_fields__)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(getattr(r, c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def synthetic_note(rows: list[CompareRow]) -> str:
    """The sentence a reader must not miss: which rows' accuracy rests on synthetic images."""
    synthetic = [r.bundle for r in rows if r.evidence.startswith("synthetic")]
    if not synthetic:
        return ""
    return (f" Evidence is synthetic for {len(synthetic)} of {len(rows)} bundles ({', '.join(synthetic)}): their "
            "accuracy was measured on phantom images, not on patients.")


def to_csv(rows: list[CompareRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CompareRow.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(asdict(r))
    return buffer.getvalue()


def compare(bundles: list[Path], out: Path | None = None, *, with_leaderboard: bool = False,
            force: bool = False) -> tuple[list[CompareRow], Path | None]:
    """Rows for the bundles; with ``out``, also compare.md/.csv/.json and pareto.png there (atomically)."""
    from edgeus.report.plots import pareto_chart
    from edgeus.util.atomic import atomic_dir

    rows = [row_of(Path(b)) for b in bundles]
    if out is None:
        return rows, None
    points = [{"label": f"{r.profile} ({r.precision})", "latency_ms": r.e2e_p50_ms, "score": r.score,
               "memory_mb": r.peak_memory_mb or 0.0} for r in rows if r.e2e_p50_ms is not None and r.score is not None]
    with atomic_dir(out, replace=force) as tmp:
        (tmp / "compare.md").write_text(to_markdown(rows) + "\n![Pareto plot](pareto.png)\n\n"
                                        "Latency: end to end per image, measured where each bundle was profiled "
                                        "(see measured_on)." + synthetic_note(rows)
                                        + (" Grey: UUSIC25 published entries (challenge GPU, real test set; latency ="
                                           " total time / 2,479)." if with_leaderboard else "") + "\n")
        (tmp / "compare.csv").write_text(to_csv(rows))
        (tmp / "compare.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
        (tmp / "pareto.png").write_bytes(pareto_chart(points, leaderboard_points() if with_leaderboard else None))
    return rows, out
