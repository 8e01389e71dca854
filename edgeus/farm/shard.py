"""Sharded validation: the predictions of a large validation set split across the devices of one profile,
merged back in the original order, then scored and bootstrapped in one place (stages/validate.py), so the
accuracy report, intervals included, equals a single-machine run's.

Shards are made of whole batches: each task's images are cut into the batches a single machine would run
(``batch_size`` in order) and the batches dealt out in turn, so every shard carries every task, and every
image is inferred in exactly the batch it would have been in (a model's last bits can depend on the batch it
shares). Each shard is a Ray task that needs one unit of the profile's resource, so shards run on different
devices at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeus.farm.cluster import FarmError, connect, devices_serving, profile_resource


@dataclass(frozen=True)
class RunnerRecipe:
    """How a device opens a runner (picklable): a model file/folder on a shared path, or a torch model name."""
    model: str
    checkpoint: str | None
    profile: str
    threads: int | None = None


def predict_shard(recipe: RunnerRecipe, spec, samples: list, batch_size: int) -> dict:
    from edgeus.backends.registry import open_runnable
    from edgeus.contracts.profiles import load_profile
    from edgeus.evidence.evaluate import predict

    runner, _ = open_runnable(recipe.model, recipe.checkpoint, load_profile(recipe.profile), recipe.threads)
    with runner:
        return predict(runner, spec, samples, batch_size, keep_logits=True)


def merge_predictions(parts: list[dict], samples: list) -> dict:
    """Per-task predictions of every shard, in the order ``samples`` lists the images."""
    from edgeus.evidence.evaluate import TaskPredictions

    where = {}
    for part in parts:
        for predictions in part.values():
            for i, sample_id in enumerate(predictions.sample_ids):
                where[(predictions.task_key, sample_id)] = (predictions, i)
    merged: dict[str, TaskPredictions] = {}
    for sample in samples:
        found = where.get((sample.task.key, sample.id))
        if found is None:
            raise FarmError(f"shard results lack {sample.task.key} {sample.id}")
        source, i = found
        out = merged.setdefault(sample.task.key, TaskPredictions(sample.task.key, source.kind))
        out.sample_ids.append(sample.id)
        out.groups.append(source.groups[i])
        for name in ("masks", "probabilities", "logits"):
            values = getattr(source, name)
            if values:
                getattr(out, name).append(values[i])
    return merged


def shard_batches(samples: list, shards: int, batch_size: int) -> list[list]:
    """Whole batches of each task dealt to ``shards`` shards; a shard keeps the original order within a task."""
    by_task: dict[str, list] = {}
    for sample in samples:
        by_task.setdefault(sample.task.key, []).append(sample)
    parts: list[list] = [[] for _ in range(shards)]
    turn = 0
    for task_samples in by_task.values():
        for start in range(0, len(task_samples), batch_size):
            parts[turn % shards].extend(task_samples[start:start + batch_size])
            turn += 1
    return [p for p in parts if p]


def sharded_predictor(address: str, recipes: dict[str, RunnerRecipe], spec, profile: str, shards: int | None = None,
                      batch_size: int = 8):
    """A ``predictor(role, samples)`` for stages/validate.validate that predicts on the farm's devices."""
    ray = connect(address)
    devices = len(devices_serving(ray, profile))
    if devices == 0:
        raise FarmError(f"no device in the farm serves {profile}")
    shards = shards or devices
    remote = ray.remote(predict_shard)

    def predictor(role: str, samples: list) -> dict:
        parts = shard_batches(samples, shards, batch_size)
        refs = [remote.options(resources={profile_resource(profile): 1}, num_cpus=0, max_retries=2).remote(
            recipes[role], spec, part, batch_size) for part in parts]
        return merge_predictions(ray.get(refs), samples)

    return predictor
