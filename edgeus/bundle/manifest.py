"""Writing and schema-checking bundle manifests (the build side; the runtime only reads them).

The manifest is the one file a vendor reads: what the model is and where it came from (checkpoint hash,
toolchain versions, calibration fingerprint), how to feed it (I/O, preprocessing, task prompts), what it is
for (profile snapshot), the evidence (accuracy and performance summaries with verdicts) and the sha256 of
every other file, so any change to the bundle is detectable.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from edgeus.runtime.manifest import MANIFEST, SCHEMA_NAME, BundleError
from edgeus.util.hashing import sha256_file

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parent / "manifest.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def schema_problems(manifest: dict) -> list[str]:
    """Every place the manifest departs from the JSON Schema, as 'path: message'."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {_in_words(error)[:200]}")
    return problems


# what each of the schema's patterns asks for, in words (jsonschema would print the regular expression)
_PATTERN_WORDS = {
    "^[0-9a-f]{64}$": "a sha256 in 64 lower-case hex digits",
    "^(?![A-Za-z]:)(?!/)(?!.*\\\\)(?!.*(^|/)\\.{1,2}(/|$))(?!.*//)[^\\x00]+$":
        "a relative path inside the bundle (no leading '/', drive letter, '..' or '.' part, backslash or '//')",
}


def _in_words(error) -> str:
    """jsonschema's message, with a pattern's regular expression replaced by what it means."""
    if error.validator != "pattern":
        return error.message
    words = _PATTERN_WORDS.get(error.validator_value, "a value of the form the schema allows")
    if "propertyNames" in error.absolute_schema_path:
        return f"file name {error.instance!r} is not {words}"
    return f"{error.instance!r} is not {words}"


def file_table(bundle: Path) -> dict[str, dict]:
    """sha256 and size of every file of the bundle except the manifest itself, keyed by POSIX relative path."""
    table = {}
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if path.is_file() and rel != MANIFEST:
            table[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return table


def task_table(spec) -> list[dict]:
    catalog = spec.task_catalog()
    return [{"dataset": t.dataset, "organ": t.organ, "json_organ": t.json_organ, "kind": t.kind,
             "classes": list(t.classes), "output": t.output, "prompt": [float(v) for v in catalog.prompt(t)],
             "scored": t.scored, "score_as": t.score_as} for t in catalog.tasks]


def io_table(spec) -> dict:
    return {"inputs": [i.model_dump() for i in spec.inputs], "outputs": [o.model_dump() for o in spec.outputs]}


def accuracy_summary(accuracy: dict) -> dict:
    """Per split: macro and worst-task drops and, per task, reference/candidate/drop of each metric."""
    splits = {}
    for name, split in accuracy.get("splits", {}).items():
        tasks = {}
        for key, task in split["tasks"].items():
            tasks[key] = {m: {"reference": c["reference"], "candidate": c["candidate"], "drop": c["drop"],
                              "drop_ci": c["drop_ci"], "budget": c["budget"], "passed": c["passed"],
                              "state": c.get("state"), "reason": c.get("reason", "")}
                          for m, c in task["metrics"].items()}
            tasks[key]["n"] = task["n"]
        splits[name] = {"passed": split["passed"], "macro": split["macro"], "worst": split["worst"], "tasks": tasks}
    return {"passed": accuracy.get("passed", True), "inconclusive": accuracy.get("inconclusive", []),
            "reference": accuracy.get("reference"), "candidate": accuracy.get("candidate"), "splits": splits}


def performance_summary(perf: dict | None) -> dict | None:
    if perf is None:
        return None
    return {"machine": perf["machine"], "backend": perf["backend"], "p50_ms": perf["compute"]["median_ms"],
            "p95_ms": perf["compute"]["p95_ms"], "end_to_end_p50_ms": perf["end_to_end"]["median_ms"],
            "fps": 1000.0 / perf["end_to_end"]["mean_ms"], "throughput": perf["throughput"],
            "peak_rss_mb": perf["peak_rss_mb"], "peak_gpu_mb": perf["peak_gpu_mb"],
            "model_size_mb": perf["model_size_mb"], "load_s": perf["load_s"],
            "projected_uusic25_s": perf["projected_uusic25_s"], "warnings": perf.get("warnings", [])}


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def finish_manifest(bundle: Path, manifest: dict) -> dict:
    """Hash every file, check against the schema and write ``manifest.json`` (last, so its presence means done)."""
    manifest = {**manifest, "schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION, "files": file_table(bundle)}
    problems = schema_problems(manifest)
    if problems:  # a bug in edgeus, not a user error: fail loudly with the details
        raise RuntimeError(f"edgeus wrote a manifest that breaks its own schema: {problems}")
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


__all__ = ["SCHEMA_VERSION", "BundleError", "finish_manifest", "schema", "schema_problems"]
