"""Train the embedded default (``uniusnet-small``) on phantom data: seeded, CPU, documented.

The committed weights came from three phases (all cards are nested in the weights' JSON); phases 1 and 2
are this script, phase 3 is ``train_cls_head.py`` (classification branch only):

    python -m edgeus.training.train_phantom --out phase1.safetensors --threads 2
    python -m edgeus.training.train_phantom --init phase1.safetensors --steps 400 --lr 5e-4 --cls-weight 4 \
        --warmup 0.05 --seed 1 --threads 2 --out phase2.safetensors
    python -m edgeus.training.train_cls_head --init phase2.safetensors --threads 2 \
        --out edgeus/weights/uniusnet-small-phantom.safetensors

Phase 1 (1,500 steps) learns segmentation; its classification head stays near chance because the
segmentation loss dominates the shared encoder's updates early on. Phase 2 weights the classification loss
four times, at a lower learning rate, so the heads align with features the encoder already separates.

The phantom training split is rendered in memory with the same generator as ``edgeus data phantom``
(seed 1000 so it never overlaps the evaluation seeds), preprocessed by the one shared preprocessing, and
batches draw every task row equally. Loss: cross-entropy + soft Dice on the segmentation output for
segmentation rows, cross-entropy on the task's own head for classification rows, as the baseline trains.
A JSON card beside the weights records the seed, schedule, data and wall time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edgeus.contracts.preprocess import preprocess
from edgeus.contracts.tasks import load_catalog
from edgeus.data.phantom import render_sample

TRAIN_SEED = 1000


def build_training_set(per_task: int, seed: int = TRAIN_SEED) -> dict[str, np.ndarray]:
    """All phantom training samples, preprocessed: images uint8 (N,224,224) grey, masks, labels, rows."""
    catalog = load_catalog()
    images, masks, labels, rows = [], [], [], []
    for row, task in enumerate(catalog.tasks):
        for i in range(per_task):
            image, mask, label = render_sample(task, row, "train", i, seed)
            x = preprocess(np.repeat(image[:, :, None], 3, axis=2))[0]
            images.append(np.round(x * 255).astype(np.uint8))
            if mask is not None:
                m = preprocess(np.repeat(mask[:, :, None], 3, axis=2))[0]
                masks.append((m > 0.5).astype(np.uint8))
            else:
                masks.append(np.zeros((224, 224), np.uint8))
            labels.append(-1 if label is None else label)
            rows.append(row)
    return {"images": np.stack(images), "masks": np.stack(masks), "labels": np.array(labels), "rows": np.array(rows)}


def _batch(data: dict, index: np.ndarray, rng: np.random.Generator, prompts: torch.Tensor, augment: bool):
    imgs = data["images"][index].astype(np.float32) / 255.0
    masks = data["masks"][index].astype(np.int64)
    if augment:
        flip = rng.random(len(index)) < 0.5
        imgs[flip] = imgs[flip, :, ::-1]
        masks[flip] = masks[flip, :, ::-1]
        gain = rng.uniform(0.8, 1.25, (len(index), 1, 1)).astype(np.float32)  # other centres' gain
        imgs = np.clip(imgs * gain, 0, 1)
    x = torch.from_numpy(np.ascontiguousarray(np.repeat(imgs[:, None], 3, axis=1)))
    return x, torch.from_numpy(np.ascontiguousarray(masks)), prompts[data["rows"][index]]


def task_losses(outputs, masks, labels, rows, catalog, cls_weight: float = 1.0) -> torch.Tensor:
    seg, cls2, cls4 = outputs
    total = torch.zeros(())
    for i, row in enumerate(rows.tolist()):
        task = catalog.tasks[row]
        if task.kind == "segmentation":
            logits = seg[i:i + 1]
            target = masks[i:i + 1]
            prob = logits.softmax(1)[:, 1]
            dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
            total = total + F.cross_entropy(logits, target) + dice
        else:
            head = cls4 if task.output == "cls4_logits" else cls2
            total = total + cls_weight * F.cross_entropy(head[i:i + 1], labels[i:i + 1])
    return total / len(rows)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))


def train(out: Path, per_task: int, steps: int, batch: int, lr: float, seed: int, threads: int | None,
          save_every: int = 0, init: Path | None = None, cls_weight: float = 1.0, warmup: float = 0.1) -> dict:
    from edgeus.models.uniusnet import SMALL, UniUSNet

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    prompts = torch.from_numpy(np.stack([catalog.prompt(t) for t in catalog.tasks]))
    start = time.time()
    data = build_training_set(per_task)
    print(f"training set: {len(data['rows'])} images in {time.time() - start:.0f} s", flush=True)
    model = UniUSNet(SMALL)
    previous = None
    if init is not None:
        # a later phase continues from an earlier phase's weights; its card is carried along
        from edgeus.models.checkpoint import load_checkpoint

        init_sha = load_checkpoint(model, init)
        init_card = init.with_suffix(".json")
        previous = {"init": str(init.name), "init_sha256": init_sha,
                    "init_card": json.loads(init_card.read_text()) if init_card.is_file() else None}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=warmup)
    by_row = [np.flatnonzero(data["rows"] == r) for r in range(len(catalog.tasks))]
    model.train()
    for step in range(steps):
        # every batch visits task rows round-robin so no organ dominates the shared encoder
        picks = [rng.choice(by_row[(step * batch + j) % len(by_row)]) for j in range(batch)]
        x, masks, p = _batch(data, np.array(picks), rng, prompts, augment=True)
        labels = torch.from_numpy(np.maximum(data["labels"][picks], 0))
        loss = task_losses(model(x, p), masks, labels, data["rows"][picks], catalog, cls_weight)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:.0f} s", flush=True)
        if save_every and step % save_every == save_every - 1:
            save_weights(model, out.with_suffix(f".step{step + 1}.safetensors"))
    model.eval()
    save_weights(model, out)
    card = {"model": "uniusnet-small", "script": "edgeus/training/train_phantom.py", "seed": seed,
            "train_data_seed": TRAIN_SEED, "train_per_task": per_task, "steps": steps, "batch": batch, "lr": lr,
            "optimizer": f"AdamW(wd=0.01), OneCycle(warmup {warmup})", "cls_weight": cls_weight,
            "threads": threads, "torch": torch.__version__, "wall_time_s": round(time.time() - start, 1),
            "previous_phase": previous}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("edgeus/weights/uniusnet-small-phantom.safetensors"))
    parser.add_argument("--per-task", type=int, default=120)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--save-every", type=int, default=0, help="also save a snapshot every N steps")
    parser.add_argument("--init", type=Path, help="continue from these weights (a later training phase)")
    parser.add_argument("--cls-weight", type=float, default=1.0, help="weight of the classification loss")
    parser.add_argument("--warmup", type=float, default=0.1, help="OneCycle warm-up fraction")
    args = parser.parse_args()
    card = train(args.out, args.per_task, args.steps, args.batch, args.lr, args.seed, args.threads, args.save_every,
                 args.init, args.cls_weight, args.warmup)
    print(json.dumps(card))


if __name__ == "__main__":
    main()
