"""Score the embedded default on the phantom evaluation splits and write docs/default-model.md.

    python -m edgeus.training.report_default [--weights FILE] [--data DIR] [--out docs/default-model.md]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from edgeus.backends.torch import TorchRunner
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.evidence.evaluate import predict
from edgeus.evidence.scoring import pool_by_scored_task, score_task
from edgeus.models import WEIGHTS_DIR, create_model, model_spec

EVAL_SEED, EVAL_PER_TASK = 0, 24


def evaluate_default(weights: Path, data: Path, threads: int | None = None) -> dict:
    spec = model_spec("uniusnet-small")
    module = create_model("uniusnet-small", weights)
    results: dict[str, dict] = {}
    with TorchRunner(module, spec, threads=threads) as runner:
        for split in ("val", "external"):
            dataset = read_dataset(data / split)
            dataset.raise_if_problems()
            preds = predict(runner, spec, dataset.samples, batch_size=8)
            by_task = dataset.by_task()
            # the challenge's tasks: Breast and Breast_luminal lesion masks pooled as Breast_all (one rule, scoring.py)
            pooled = pool_by_scored_task({key: score_task(by_task[key], p) for key, p in preds.items()},
                                         spec.task_catalog())
            results[split] = {key: scores.summary() for key, scores in pooled.items()}
    for tasks in results.values():
        seg = [v["dsc"] for v in tasks.values() if "dsc" in v]
        cls = [v["auc"] for v in tasks.values() if "auc" in v and v["auc"] is not None]
        tasks["_mean"] = {"dsc": float(np.mean(seg)), "auc": float(np.mean(cls))}
    return results


def to_markdown(results: dict, card: dict) -> str:
    lines = ["# The embedded default: `uniusnet-small` trained on phantom data", "",
             "Trained in three seeded phases on phantom data the evaluation never sees (settings in the card below):",
             "`python -m edgeus.training.train_phantom` twice (segmentation, then both heads with the classification",
             "loss weighted 4x), then `python -m edgeus.training.train_cls_head` (the classification branch alone on",
             "frozen shared features, 480 images per classification row, selected on a held-out phantom set: the",
             "segmentation outputs are bit-for-bit those of phase 2). Scored by",
             "`python -m edgeus.training.report_default` on the phantom evaluation splits "
             f"(`edgeus data phantom --per-task {EVAL_PER_TASK} --seed {EVAL_SEED}`): `val` is the internal centre,",
             "`external` an unseen centre (other gain, coarser speckle, other probe geometry).",
             "Masks are scored at the original image size with the geometric inverse of the preprocessing (`uncrop`).",
             "", "Training card (per-epoch history left out; it is in the weights' JSON): `"
             + json.dumps({k: v for k, v in card.items() if k != "history"}) + "`", "",
             "| task | internal DSC | internal NSD | internal AUC | internal ACC | external DSC | external NSD | external AUC | external ACC |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = [k for k in results["val"] if not k.startswith("_")]

    def fmt(v):
        return "—" if v is None else f"{v:.3f}"

    for key in keys:
        row = [key]
        for split in ("val", "external"):
            m = results[split][key]
            row += [fmt(m.get("dsc")), fmt(m.get("nsd")), fmt(m.get("auc")), fmt(m.get("acc"))]
        lines.append("| " + " | ".join(row) + " |")
    for split in ("val", "external"):
        mean = results[split]["_mean"]
        lines.append(f"\n**{split}**: mean DSC over the five scored segmentation tasks {mean['dsc']:.3f} "
                     f"(Breast and Breast_luminal lesion masks pooled as Breast_all, as the challenge scores them), "
                     f"mean AUC over the four classification tasks {mean['auc']:.3f} (4-class subtype AUC: macro "
                     f"one-vs-rest, what the baseline's scikit-learn call computes)")
    internal = results["val"]["_mean"]
    verdict = {True: "met", False: "NOT met"}
    lines.append(f"\nTargets on the internal split (mean DSC >= 0.85, mean AUC >= 0.85): DSC "
                 f"{verdict[internal['dsc'] >= 0.85]} ({internal['dsc']:.3f}), AUC {verdict[internal['auc'] >= 0.85]} "
                 f"({internal['auc']:.3f}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR / "uniusnet-small-phantom.safetensors")
    parser.add_argument("--data", type=Path, default=None, help="phantom root (default: generated into a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("docs/default-model.md"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "phantom"
            generate_phantom(data, per_task=EVAL_PER_TASK, seed=EVAL_SEED, splits=("val", "external"))
        results = evaluate_default(args.weights, data, args.threads)
    card_path = args.weights.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    args.out.write_text(to_markdown(results, card))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
