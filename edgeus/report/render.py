"""report.md and a self-contained report.html for a bundle, from its manifest and evidence files.

The content is built once as a list of blocks (heading, text, table, image) and written by two small
renderers, so the Markdown and the HTML never disagree. Markdown links its pictures from ``report/``; the
HTML embeds them (base64), so it opens anywhere, offline, as one file.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from edgeus.report import plots

REPORT_MD, REPORT_HTML, FIGURES_DIR = "report.md", "report.html", "report"


@dataclass
class Block:
    kind: str                      # h1 | h2 | h3 | text | table | image
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    image: bytes = b""
    name: str = ""                 # figure file name (Markdown)


def _n(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _sig(value) -> str:
    return "–" if value is None else f"{value:.3g}"


def _ci(ci) -> str:
    return "" if not ci or ci[0] is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def _mark(item: dict) -> str:
    """A gate's state as the report writes it (older manifests carry only ``passed``)."""
    state = item.get("state") or {True: "pass", False: "fail"}.get(item.get("passed"), "n/a")
    return {"fail": "FAIL"}.get(state, state)


def _flat(value) -> str:
    """A toolchain value in one table cell (nested records as 'name version, ...')."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "–" if value is None else str(value)


def _evidence_line(data: dict | None) -> str:
    """The report's first words on where the evidence came from (synthetic evidence said first, plainly)."""
    if not data:
        return "**Evidence:** data source not recorded."
    counts = {split: sum(per_task.values()) for split, per_task in data.get("images", {}).items()}
    sizes = ", ".join(f"{split} {n} images" for split, n in counts.items())
    if data.get("synthetic"):
        return (f"**Evidence is synthetic:** calibration and validation ran on edgeus phantom B-mode images (seed "
                f"{data.get('seed')}, {data.get('per_task')} per task row; {sizes}), not on patient data. Accuracy "
                f"figures show what quantization changes, not clinical performance. Data content sha256 "
                f"`{data.get('content_sha256', '')[:16]}…`.")
    return (f"**Evidence:** user data folder `{data.get('root_name')}` ({sizes}); content sha256 "
            f"`{data.get('content_sha256', '')[:16]}…`.")


def _headline(manifest: dict) -> str:
    states = [v.get("state") for v in manifest["verdicts"]]
    if not manifest["passed"]:
        return "FAILED"
    inconclusive = states.count("inconclusive")
    return f"PASSED, {inconclusive} gate(s) inconclusive" if inconclusive else "PASSED"


def peer_ratios(row: dict | None) -> str:
    """'1.21x onnxruntime fp32, 2.13x torch eager': how much faster a plan ran than each peer, same loop."""
    peers = (row or {}).get("vs_peers") or {}
    return ", ".join(f"{ratio:.2f}x {name}" for name, ratio in sorted(peers.items(), key=lambda kv: kv[1]))


def delegation_lines(rows: list[dict]) -> list[str]:
    """Per ExecuTorch plan: the share of the program XNNPACK runs and the operators left to portable kernels
    (where an INT8 plan's time goes when it is not faster than fp32)."""
    lines = []
    for row in rows:
        d = row.get("delegation")
        if not d:
            continue
        total = d["delegated_nodes"] + d["portable_nodes"]
        top = sorted(d.get("portable_by_operator", {}).items(), key=lambda kv: -kv[1])[:4]
        lines.append(f"{row['plan']} {d['coverage']:.0%} of {total} nodes on XNNPACK ({d['delegated_subgraphs']} "
                     "subgraphs)" + (", portable kernels: " + ", ".join(f"{op} x{n}" for op, n in top) if top else ""))
    return lines


def peer_sentence(shipped: dict | None, peer: str) -> str:
    ratio = ((shipped or {}).get("vs_peers") or {}).get(peer)
    if ratio is None:
        return "a baseline a user would run instead, timed in the same loop"
    if abs(ratio - 1) < 0.005:
        return f"peer, same loop: {shipped['plan']} runs as fast"
    return (f"peer, same loop: {shipped['plan']} runs {ratio:.2f}x faster" if ratio > 1
            else f"peer, same loop: {shipped['plan']} runs {1 / ratio:.2f}x slower")


def plan_blocks(plans: dict, accuracy: dict) -> list[Block]:
    """The plans the build compared, why it shipped this one, the float scope it found and the stage ledger."""
    blocks = [Block("h2", text="Plans")]
    chosen = plans.get("chosen")
    backends = {p.get("backend") for p in plans["plans"]}
    shipped_backend = next((p.get("backend") for p in plans["plans"] if p["plan"] == chosen), None)
    blocks.append(Block("text", text=(
        (f"Shipped plan **{chosen}**: the fastest candidate that passes every gate"
         + (f" (runtime {shipped_backend}, one of those the profile allows)" if len(backends) > 1 else "") + ". "
         if chosen else
         f"**No plan passes every gate**; the closest, **{plans.get('closest')}**, is shipped marked failed. ")
        + f"Timing: {plans.get('timing')}. Gates on {sum(plans.get('confirm_images', {}).values())} held-out images; "
          f"the float-scope search used {plans.get('search_images')} others.")))
    rows = [["plan", "median ms", "p95 ms", "vs fp32", "ran as", "worst drop", "state", "why"]]
    for p in sorted(plans["plans"], key=lambda p: p["median_ms"] if p["median_ms"] is not None else float("inf")):
        speed = f"{p['speedup_vs_fp32']:.2f}x" if p.get("speedup_vs_fp32") else "–"
        worst = f"{_n(p['worst_drop'], 4)} ({p['worst_drop_where']})" if p.get("worst_drop") is not None else "–"
        state = p["state"] + (f" ({p['inconclusive']} inconclusive)" if p.get("inconclusive")
                              and p["state"] in ("pass", "chosen") else "")
        rows.append([p["plan"], _n(p["median_ms"], 1), _n(p["p95_ms"], 1), speed,
                     str(p.get("ran_as") or p.get("actual_precision") or "–"), worst, state,
                     p["reason"] or ("; ".join(p["failing"]) if p["failing"] else "")])
    shipped = next((p for p in plans["plans"] if p["plan"] == (chosen or plans.get("closest"))), None)
    for name, t in sorted(plans.get("peers", {}).items(), key=lambda kv: kv[1]["median_ms"]):
        if any(p.get("compute") == "fp32" and f"{p.get('backend')} fp32" == name for p in plans["plans"]):
            continue  # the profile's own fp32 is a plan row already
        rows.append([name, _n(t["median_ms"], 1), _n(t["p95_ms"], 1), "–", "–", "–", "peer",
                     peer_sentence(shipped, name)])
    for name, why in plans.get("excluded", {}).items():
        rows.append([name, "–", "–", "–", "–", "–", "not built", why])
    blocks.append(Block("table", rows=rows))
    ratios = peer_ratios(shipped)
    if ratios:
        blocks.append(Block("text", text=f"Against the peers in the same loop, **{shipped['plan']}** is {ratios} "
                                         "(batch 1, this build machine's timing)."))
    budget = accuracy.get("budgets", {}).get("auc_worst")
    blocks.append(Block("image", image=plots.plans_chart(plans["plans"], budget, plans.get("peers")),
                        name="plans.png", text="Plans: latency vs worst-task drop, the peers' latency dotted"))
    delegated = delegation_lines(plans["plans"])
    if delegated:
        blocks.append(Block("text", text="Delegation (ExecuTorch): " + "; ".join(delegated) + "."))
    search = plans.get("scope_search")
    if search:
        blocks.append(Block("h3", text="Automatic float scope (int8-auto)"))
        blocks.append(Block("text", text=(
            f"{len(search['float_blocks'])} of {len(search['blocks'])} blocks returned to float "
            f"({', '.join(search['float_blocks']) or 'none'}), searched with float islands in {search['islands']} on "
            f"{search['search_images']} images; every task within its agreement threshold: "
            f"{'yes' if search['within'] else 'no'}. "
            "Ratio = a task's disagreement with fp32 over its threshold (from the budgets); <= 1 holds.")))
        trace = [["step", "block", "blocks in float", "worst task", "worst ratio", "ms / image"]]
        for step in search["steps"]:
            trace.append([step["phase"], step["block"] or "–", str(len(step["float_blocks"])), step["worst_task"],
                          _n(step["ratios"].get(step["worst_task"]), 2), _n(step["ms_per_image"], 1)])
        blocks.append(Block("table", rows=trace))
    ledger = accuracy.get("ledger")
    if ledger:
        blocks.append(Block("h3", text="Stage ledger"))
        blocks.append(Block("text", text="Each task's drop against torch fp32 at each stage, on the held-out images: "
                                         "where accuracy was lost."))
        rows = [["split / task / metric"] + [s["stage"] for s in ledger]]
        for split, tasks in ledger[0]["drops"].items():
            for task, metrics in tasks.items():
                for metric in metrics:
                    rows.append([f"{split} {task} {metric.upper()}"] + [
                        _n(s["drops"].get(split, {}).get(task, {}).get(metric), 4) for s in ledger])
        blocks.append(Block("table", rows=rows))
    return blocks


def evidence_blocks(manifest: dict) -> list[Block]:
    """Where the evidence was computed (ISA, runtime settings) and the conformance on the target's core."""
    isa, on_target = manifest.get("evidence_isa"), manifest.get("conformance", {}).get("on_target")
    if not isa and not on_target:
        return []
    blocks = [Block("h2", text="Where the evidence was computed")]
    if isa:
        blocks.append(Block("text", text=(
            f"Validation, stage ledger and conformance vectors: {isa.get('runtime', '?')} on {isa.get('machine')}, "
            f"computed with {isa.get('computed_with')}; target {isa.get('target_arch')}"
            + (f" ({isa['target_cpu']})" if isa.get("target_cpu") else "") + f". {isa.get('note', '')}")))
    if on_target:
        state = on_target["state"]
        if state == "not checked":
            blocks.append(Block("text", text=f"**Conformance on {on_target.get('cpu_model') or 'the target ISA'}: not "
                                             f"checked on the target ISA** ({on_target.get('reason')})."))
        else:
            blocks.append(Block("text", text=(
                f"**Conformance on {on_target['where']}: {state}** — {on_target['emulator']}, {on_target['threads']} "
                f"threads; {on_target['userland']}."
                + (" The vectors hold the emulated core's own outputs; this build machine's differed from them by "
                   "up to " + _sig(max(r["build_machine_vs_core"] for r in on_target["recorded_on_core"]))
                   + " (the accuracy above was computed with this machine's kernels)."
                   if on_target.get("recorded_on_core") else ""))))
            blocks.append(Block("table", rows=[["task", "output", "max abs diff vs bundle", "tol", "vs fp32", "tol",
                                                "argmax agreement", "verdict"]] + [
                [v["task"], v["output"], _sig(v["max_abs_diff"]), _sig(v["bundle_atol"]),
                 _sig(v["reference_deviation"]), _sig(v["reference_atol"]), _n(v["agreement"]),
                 "pass" if v["passed"] else "**FAIL**"] for v in on_target["vectors"]]))
    return blocks


def robustness_blocks(report: dict) -> list[Block]:
    """The plan under ultrasound shifts: per family and severity the worst task's extra drop beyond fp32, then
    one figure per family (data/shifts.py defines each)."""
    blocks = [Block("h2", text="Robustness under ultrasound shift"), Block("text", text=(
        f"Reference `{report['reference']}` vs plan `{report['candidate']}` on {report['images']} images, clean and "
        "shifted alike; the **extra drop** is how much more the plan loses under the shift than fp32 loses (a "
        "difference in differences, paired 95 % bootstrap CI). "
        + ("Gated by the profile's `[budgets.robustness]`." if report.get("budget") else
           "Measured, not gated (the profile sets no `[budgets.robustness]`).")))]
    rows = [["family", "severity", "parameter", "worst task / metric", "fp32 clean -> shifted", "plan clean -> shifted",
             "extra drop [95 % CI]", "state"]]
    for family, severity in report["shifts"]:
        drops = [d for d in report["drops"] if d["family"] == family and d["severity"] == severity
                 and d["extra_drop"] is not None]
        if not drops:
            continue
        w = max(drops, key=lambda d: d["extra_drop"])
        states = {d["state"] for d in drops}
        state = next((s for s in ("fail", "inconclusive", "pass", "measured") if s in states), "undefined")
        value = report["families"][family]["values"][severity]
        rows.append([family, str(severity), str(value), f"{w['task']} {w['metric'].upper()}",
                     f"{_n(w['reference_clean'])} -> {_n(w['reference_shifted'])}",
                     f"{_n(w['candidate_clean'])} -> {_n(w['candidate_shifted'])}",
                     f"{w['extra_drop']:.4f}" + _ci(w["ci"]), "**FAIL**" if state == "fail" else state])
    blocks.append(Block("table", rows=rows))
    for family in dict.fromkeys(f for f, _ in report["shifts"]):
        blocks.append(Block("image", image=plots.robustness_chart(report, family), name=f"robustness-{family}.png",
                            text=f"{family}: {report['families'][family]['formula']}"))
    return blocks


def build_blocks(manifest: dict, accuracy: dict, perf: dict | None, overlays: dict[str, bytes],
                 plans: dict | None = None) -> list[Block]:
    target = manifest["target"]
    blocks = [Block("h1", text=f"{manifest['model']['name']} → {target['profile']} "
                               f"(plan {target.get('plan') or target['precision']})")]
    blocks.append(Block("text", text=_evidence_line(manifest.get("data"))))
    verdict = _headline(manifest)
    engine = manifest["engine"]
    blocks.append(Block("text", text=(
        f"**Verdict: {verdict}.** Backend {target['backend']} for {target['device']}; engine {engine['status']}. "
        f"Built {manifest['created']} with edgeus {manifest['edgeus_version']}. "
        + (f"Performance measured on {perf['machine'].get('cpu', '?')} ({perf['machine'].get('cores')} cores), "
           f"not on the target device." if perf else "No performance measured (engine pending).")
    )))
    blocks.append(Block("h2", text="Budget verdicts"))
    blocks.append(Block("table", rows=[["item", "measured", "budget", "unit", "verdict", "why"]] + [
        [v["item"], _n(v["measured"]) + _ci(v.get("ci")), f"{v['budget']:g}", v.get("unit", ""), _mark(v),
         v.get("note", "")] for v in manifest["verdicts"]]))
    blocks.append(Block("text", text=(
        "Accuracy gates have three outcomes: **pass** when the upper bound of the drop's paired 95 % CI is within "
        "budget, **FAIL** when the drop exceeds the budget and its lower bound is above 0, **inconclusive** "
        "otherwise (the images cannot decide; the reason says how many would). Inconclusive gates "
        + ("block this build (strict profile)." if manifest["profile"].get("budgets", {}).get("strict") else
           "warn; a strict profile (`budgets.strict`, or `--strict`) blocks on them."))))

    blocks += evidence_blocks(manifest)
    if plans:
        blocks += plan_blocks(plans, accuracy)

    blocks.append(Block("h2", text="Accuracy per task"))
    blocks.append(Block("text", text=(
        f"Reference `{accuracy.get('reference')}` vs candidate `{accuracy.get('candidate')}`; 95 % bootstrap "
        f"intervals ({accuracy.get('n_boot', 1000)} resamples), the drop's interval paired (same resampled images).")))
    for split, sr in accuracy.get("splits", {}).items():
        blocks.append(Block("h3", text=f"{split} split: {'no gate failed' if sr['passed'] else 'FAIL'}"))
        rows = [["task", "n", "metric", "reference", "candidate", "drop", "budget", "verdict", "fidelity"]]
        for key, task in sr["tasks"].items():
            fid = task["fidelity"]
            fid_text = (f"mask Dice vs fp32 {fid['mask_dice_vs_reference']:.3f}" if "mask_dice_vs_reference" in fid
                        else f"argmax agreement {fid.get('argmax_agreement', 0):.3f}")
            for metric, c in task["metrics"].items():
                rows.append([key, str(task["n"]), metric.upper(), _n(c["reference"]) + _ci(c["reference_ci"]),
                             _n(c["candidate"]) + _ci(c["candidate_ci"]), _n(c["drop"]) + _ci(c["drop_ci"]),
                             f"{c['budget']:g}", _mark(c), fid_text])
        blocks.append(Block("table", rows=rows))
        blocks.append(Block("image", image=plots.drop_chart(sr, f"{split} split: drop per task (95 % CI) vs budget"),
                            name=f"drops-{split}.png", text=f"Accuracy drops, {split} split"))

    blocks.append(Block("h2", text="Performance"))
    if perf:
        c, e = perf["compute"], perf["end_to_end"]
        blocks.append(Block("table", rows=[["measure", "value"],
                                           ["compute p50 / p95 / p99 (ms)", f"{c['median_ms']:.2f} / {c['p95_ms']:.2f} / {c['p99_ms']:.2f}"],
                                           ["end to end p50 (ms) / fps", f"{e['median_ms']:.2f} / {1000 / e['mean_ms']:.1f}"],
                                           ["throughput (images/s by batch)", ", ".join(f"b{k}: {v:.1f}" for k, v in perf["throughput"].items())],
                                           *([["end to end, pipelined (images/s; x compute-only)",
                                               f"{perf['pipelined']['images_per_s']:.1f}; {perf['pipelined']['vs_compute']:.2f}x"]]
                                             if perf.get("pipelined") else []),
                                           ["load / first inference", f"{perf['load_s']:.2f} s / {perf['first_inference_ms']:.1f} ms"],
                                           ["peak memory (MiB)", f"{perf['peak_rss_mb']:.0f} ({perf.get('memory_source', 'process RSS')})"],
                                           ["peak GPU memory (MiB)", _n(perf["peak_gpu_mb"], 0)],
                                           ["model size (MiB)", f"{perf['model_size_mb']:.2f}"],
                                           ["projected UUSIC25 test set (2,479 images, s)", f"{perf['projected_uusic25_s']:.1f}"]]))
        for warning in perf.get("warnings", []):
            blocks.append(Block("text", text=f"⚠ {warning}"))
        blocks.append(Block("image", image=plots.latency_chart(perf), name="latency.png", text="Latency distribution"))
        budget = manifest["profile"].get("budgets", {}).get("peak_memory_mb")
        blocks.append(Block("image", image=plots.memory_chart(perf, budget), name="memory.png", text="Memory over time"))
    else:
        blocks.append(Block("text", text="Not measured here: the engine is built on the device ('edgeus finalize')."))

    if overlays:
        blocks.append(Block("h2", text="Segmentation overlays"))
        for key, png in overlays.items():
            blocks.append(Block("image", image=png, name=f"overlay-{key.replace('/', '-')}.png", text=key))

    blocks.append(Block("h2", text="Provenance"))
    calibration = manifest.get("calibration")
    rows = [["item", "value"], ["checkpoint sha256", manifest["model"]["checkpoint_sha256"] or "–"],
            ["deployment rewrites", ", ".join(manifest["model"].get("deploy_rewrites") or []) or "none"],
            ["calibration", f"{calibration['samples']} images, fingerprint {calibration['fingerprint']}"
             if calibration else "none (no INT8 calibration)"]]
    rows += [[k, _flat(v)] for k, v in manifest["toolchain"].items()]
    blocks.append(Block("table", rows=rows))
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "text":
            out.append(b.text)
        elif b.kind == "table":
            header, *body = b.rows
            out.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
            out[-1] += "".join("\n| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body)
        elif b.kind == "image":
            out.append(f"![{b.text}]({FIGURES_DIR}/{b.name})")
        out.append("")
    return "\n".join(out)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#212121}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f5f5f5}td.FAIL{color:#c62828;font-weight:600}td.pass{color:#2e7d32}img{max-width:100%}
code{background:#f5f5f5;padding:0 3px}"""


def _inline(text: str) -> str:
    """The little Markdown the blocks use: **bold** and `code`."""
    escaped = html.escape(text)
    for marker, tag in (("**", "strong"), ("`", "code")):
        parts = escaped.split(marker)
        escaped = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return escaped


def to_html(blocks: list[Block], title: str) -> str:
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_STYLE}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "text":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "table":
            header, *body = b.rows
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            for row in body:
                out.append("<tr>" + "".join(f"<td class='{html.escape(c)}'>{html.escape(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        elif b.kind == "image":
            data = base64.b64encode(b.image).decode()
            out.append(f"<figure><img alt='{html.escape(b.text)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{html.escape(b.text)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def write_reports(folder: Path, manifest: dict, accuracy: dict, perf: dict | None, overlays: dict[str, bytes]) -> None:
    import json

    plans_file = folder / "plans.json"  # written by a build that searched plans
    plans = json.loads(plans_file.read_text()) if plans_file.is_file() else None
    robust_file = folder / "robustness.json"  # the shipped plan under ultrasound shifts
    blocks = build_blocks(manifest, accuracy, perf, overlays, plans)
    if robust_file.is_file():
        blocks += robustness_blocks(json.loads(robust_file.read_text()))
    figures = folder / FIGURES_DIR
    figures.mkdir(exist_ok=True)
    for b in blocks:
        if b.kind == "image":
            (figures / b.name).write_bytes(b.image)
    (folder / REPORT_MD).write_text(to_markdown(blocks), encoding="utf-8")
    (folder / REPORT_HTML).write_text(to_html(blocks, blocks[0].text), encoding="utf-8")
