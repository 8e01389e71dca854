"""The pictures of a report, as PNG bytes (matplotlib, Agg backend: no display needed).

Each function takes plain dicts (accuracy.json / perf.json as written) so a report can be re-rendered from a
bundle without rerunning anything.
"""

from __future__ import annotations

import io

import numpy as np

SEG_METRICS, CLS_METRICS = ("dsc", "nsd"), ("auc", "acc")
PASS_COLOUR, FAIL_COLOUR, UNDEFINED_COLOUR = "#2e7d32", "#c62828", "#9e9e9e"
INCONCLUSIVE_COLOUR = "#ef6c00"
STATE_COLOUR = {"pass": PASS_COLOUR, "fail": FAIL_COLOUR, "inconclusive": INCONCLUSIVE_COLOUR}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def drop_chart(split: dict, title: str) -> bytes:
    """Per task and metric: the drop (reference - candidate) with its paired 95 % CI, against the budget line."""
    plt = _pyplot()
    panels = [(m, [(k, t["metrics"][m]) for k, t in split["tasks"].items() if m in t["metrics"]])
              for m in (*SEG_METRICS, *CLS_METRICS)]
    panels = [(m, rows) for m, rows in panels if rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 0.45 * max(len(r) for _, r in panels) + 1.6),
                             squeeze=False, gridspec_kw={"wspace": 0.65})
    previous_labels = None
    for ax, (metric, rows) in zip(axes[0], panels):
        labels = [k.replace("/segmentation", " seg").replace("/classification", " cls") for k, _ in rows]
        y = np.arange(len(rows))
        for yi, (_, c) in zip(y, rows):
            if c["drop"] is None:
                ax.plot([0], [yi], marker="x", color=UNDEFINED_COLOUR)
                continue
            colour = STATE_COLOUR.get(c.get("state") or ("pass" if c["passed"] else "fail"), UNDEFINED_COLOUR)
            lo, hi = (c["drop_ci"] or [c["drop"], c["drop"]])[:2]
            # a percentile interval need not contain the point estimate (few images, a skewed resampling): the
            # bar then starts at the point, never with a negative length (matplotlib refuses those)
            ax.errorbar([c["drop"]], [yi], xerr=[[max(0.0, c["drop"] - lo)], [max(0.0, hi - c["drop"])]], fmt="o",
                        color=colour, capsize=3)
        budget = rows[0][1]["budget"]
        ax.axvline(budget, color=FAIL_COLOUR, linestyle="--", linewidth=1, label=f"budget {budget:g}")
        ax.axvline(0, color="black", linewidth=0.6)
        # label the rows where they change (segmentation panels, then classification panels)
        ax.set_yticks(y, labels if labels != previous_labels else [""] * len(y))
        previous_labels = labels
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.invert_yaxis()
        ax.set_title(f"{metric.upper()} drop")
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return _png(fig)


def latency_chart(perf: dict) -> bytes:
    """Compute latency (batch 1): histogram and empirical CDF with p50 and p95 marked."""
    plt = _pyplot()
    lat = np.sort(np.asarray(perf["latencies_ms"], dtype=float))
    p50, p95 = perf["compute"]["median_ms"], perf["compute"]["p95_ms"]
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(9, 3.2))
    hist.hist(lat, bins=min(40, max(5, len(lat) // 3)), color="#5c6bc0")
    cdf.plot(lat, np.arange(1, len(lat) + 1) / len(lat), color="#5c6bc0")
    for ax in (hist, cdf):
        for value, label, style in ((p50, "p50", "-"), (p95, "p95", "--")):
            ax.axvline(value, color="#e65100", linestyle=style, linewidth=1, label=f"{label} {value:.1f} ms")
        ax.set_xlabel("compute latency, batch 1 (ms)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    hist.set_ylabel("iterations")
    cdf.set_ylabel("fraction ≤ latency")
    fig.suptitle(f"Latency on {perf['machine'].get('cpu', 'this machine')} ({len(lat)} iterations)", fontsize=9)
    return _png(fig)


def memory_chart(perf: dict, budget_mb: float | None) -> bytes:
    """Process memory (RSS) over the profiling run: load, first inference, timed loops."""
    plt = _pyplot()
    timeline = np.asarray(perf["memory_timeline"] or [[0.0, perf["peak_rss_mb"]]], dtype=float)
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(timeline[:, 0], timeline[:, 1], color="#00838f")
    ax.axhline(perf["peak_rss_mb"], color="#00838f", linestyle=":", linewidth=1,
               label=f"peak {perf['peak_rss_mb']:.0f} MiB")
    if budget_mb:
        ax.axhline(budget_mb, color=FAIL_COLOUR, linestyle="--", linewidth=1, label=f"budget {budget_mb:g} MiB")
    ax.set_xlabel("time since load started (s)")
    ax.set_ylabel("RSS (MiB)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def overlay_panel(title: str, rows: list[dict]) -> bytes:
    """Per sample: the image, the fp32 reference mask and the candidate mask, ground truth outlined in each."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 3, figsize=(8.4, 2.9 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        image = row["image"]
        panels = (("image", None), (f"fp32 reference (Dice {row['reference_dice']:.3f})", row["reference"]),
                  (f"candidate (Dice {row['candidate_dice']:.3f}; vs fp32 {row['agreement_dice']:.3f})",
                   row["candidate"]))
        for c, (label, mask) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(image, cmap="gray")
            if mask is not None:
                ax.imshow(np.ma.masked_where(mask == 0, mask), cmap="autumn", alpha=0.45, vmin=0, vmax=255)
            if row.get("truth") is not None and c > 0:
                ax.contour(row["truth"] > 0, levels=[0.5], colors="#00e676", linewidths=0.8)
            ax.set_title(label if c else f"{row['sample']}", fontsize=7)
            ax.axis("off")
    fig.suptitle(f"{title}  (green: ground truth)", fontsize=9)
    return _png(fig)


def pareto_chart(points: list[dict], references: list[dict] | None = None) -> bytes:
    """Latency vs accuracy score, bubble area = peak memory; the Pareto front joined; leaderboard points grey."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, ref in enumerate(references or []):
        ax.scatter(ref["latency_ms"], ref["score"], s=max(12.0, ref["memory_mb"] / 8), color="#bdbdbd", alpha=0.6,
                   edgecolors="#757575", linewidths=0.5,
                   label="UUSIC25 published (real test set, challenge GPU)" if i == 0 else None)
        ax.annotate(ref["label"], (ref["latency_ms"], ref["score"]), fontsize=6, color="#757575",
                    xytext=(3, 3), textcoords="offset points")
    colours = plt.get_cmap("tab10")
    for i, p in enumerate(points):
        ax.scatter(p["latency_ms"], p["score"], s=max(20.0, p["memory_mb"] / 8), color=colours(i % 10), alpha=0.75,
                   edgecolors="black", linewidths=0.6, label=p["label"])
    front = pareto_front(points)
    if len(front) > 1:
        ax.plot([p["latency_ms"] for p in front], [p["score"] for p in front], color="black", linewidth=0.8,
                linestyle="--", label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("latency per image, end to end (ms, log scale)")
    ax.set_ylabel("accuracy score ((Seg + Cls) / 2)")
    ax.set_title("Latency vs accuracy (bubble area ∝ peak memory)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point beats on both latency (lower) and score (higher), by latency."""
    front = []
    for p in sorted(points, key=lambda q: (q["latency_ms"], -q["score"])):
        if not front or p["score"] > front[-1]["score"]:
            front.append(p)
    return front


def plans_chart(plans: list[dict], budget: float | None = None, peers: dict | None = None) -> bytes:
    """Latency vs worst-task drop of every built plan: the chosen one starred, the rejected ones hollow with
    their first failing gate beside them, the Pareto front (lower latency and lower drop) dashed; the peers
    timed in the same loop (torch eager, each runtime's fp32 of the export: no accuracy of their own to plot)
    as dotted vertical lines at their latency."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for i, (name, timing) in enumerate(sorted((peers or {}).items(), key=lambda kv: kv[1].get("median_ms") or 0)):
        if timing.get("median_ms") is None:
            continue
        ax.axvline(timing["median_ms"], color="#607d8b", linewidth=0.9, linestyle=":", zorder=1)
        ax.annotate(f"peer: {name} {timing['median_ms']:.1f} ms", (timing["median_ms"], 1 - 0.07 * (i + 1)),
                    xycoords=("data", "axes fraction"), fontsize=6.5, color="#455a64", rotation=0,
                    xytext=(3, 0), textcoords="offset points")
    shown = [p for p in plans if p.get("median_ms") is not None and p.get("worst_drop") is not None]
    for p in shown:
        x, y = p["median_ms"], p["worst_drop"]
        if p["state"] == "chosen":
            ax.scatter(x, y, marker="*", s=260, color="#2e7d32", edgecolors="black", zorder=3, label=f"chosen: {p['plan']}")
        elif p["state"] == "pass":
            ax.scatter(x, y, s=60, color="#66bb6a", edgecolors="black", zorder=2)
        else:
            ax.scatter(x, y, s=60, facecolors="none", edgecolors="#c62828", linewidths=1.5, zorder=2)
        note = p["plan"] if p["state"] in ("chosen", "pass") else f"{p['plan']}: {p['reason'][:48]}"
        ax.annotate(note, (x, y), fontsize=6.5, xytext=(5, 4), textcoords="offset points")
    front = pareto_front([{"latency_ms": p["median_ms"], "score": -p["worst_drop"]} for p in shown])
    if len(front) > 1:
        ax.plot([f["latency_ms"] for f in front], [-f["score"] for f in front], color="black", linewidth=0.8,
                linestyle="--", label="Pareto front")
    if budget is not None:
        ax.axhline(budget, color="#c62828", linewidth=0.8, linestyle=":", label=f"worst-task budget ({budget:g})")
    ax.set_xlabel("latency per image, batch 1 (ms, interleaved on the build machine)")
    ax.set_ylabel("worst-task drop vs torch fp32 (held-out)")
    ax.set_title("Plans: latency vs worst-task drop (filled: passes every gate; hollow: rejected)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def robustness_chart(report: dict, family: str) -> bytes:
    """One shift family: per task, the fp32 model's and the plan's metric against severity (0 = clean), the
    first metric of each task (DSC / AUC); shaded: the plan's extra drop's 95 % CI around its curve."""
    plt = _pyplot()
    drops = [d for d in report["drops"] if d["family"] == family and d["metric"] in ("dsc", "auc")]
    tasks = list(dict.fromkeys(d["task"] for d in drops))
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(2.4 * max(1, len(tasks)), 2.6), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks, strict=False):
        rows = sorted((d for d in drops if d["task"] == task and d["severity"] > 0), key=lambda d: d["severity"])
        if not rows or rows[0]["reference_clean"] is None:
            ax.set_title(task.split("/")[0], fontsize=8)
            continue
        x = [0] + [d["severity"] for d in rows]
        ref = [rows[0]["reference_clean"]] + [d["reference_shifted"] for d in rows]
        cand = [rows[0]["candidate_clean"]] + [d["candidate_shifted"] for d in rows]
        ax.plot(x, ref, "o-", color="#455a64", label="fp32", markersize=3)
        ax.plot(x, cand, "o-", color=INCONCLUSIVE_COLOUR, label="plan", markersize=3)
        # the plan's value is fp32's minus the clean drop minus the extra drop: its CI band follows the extra drop
        low = [cand[0]] + [c - ((d["ci"][1] or 0) - (d["extra_drop"] or 0)) if d["ci"] and d["ci"][1] is not None
                           else c for c, d in zip(cand[1:], rows, strict=True)]
        high = [cand[0]] + [c + ((d["extra_drop"] or 0) - (d["ci"][0] or 0)) if d["ci"] and d["ci"][0] is not None
                            else c for c, d in zip(cand[1:], rows, strict=True)]
        ax.fill_between(x, low, high, color=INCONCLUSIVE_COLOUR, alpha=0.2, linewidth=0)
        ax.set_title(f"{task.split('/')[0]} {rows[0]['metric'].upper()}", fontsize=8)
        ax.set_xlabel("severity", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{family}: metric vs severity (plan's 95 % band from the paired extra-drop CI)", fontsize=9, y=1.06)
    return _png(fig)
