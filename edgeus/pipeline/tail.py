"""The bundle tail of a build: the shipped plan's compiled model, its evidence (typed reports, verdicts), the
build log with this machine's paths scrubbed, written as a bundle (bundle/assemble.py) atomically."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

from edgeus.backends.registry import open_runner
from edgeus.bundle.assemble import MODEL_DIR, BundleParts, write_bundle
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.reports import PerfReport
from edgeus.contracts.stage_records import ModelRecord
from edgeus.pipeline.context import BuildContext, BuildResult
from edgeus.pipeline.robustness import ROBUSTNESS_FILE
from edgeus.pipeline.target_evidence import conformance_check
from edgeus.util.logs import scrub_paths

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def ship_bundle(ctx: BuildContext, result: BuildResult, profile: DeviceProfile, compiled_dir: Path,
                perf: PerfReport) -> dict:
    """A ready bundle of ``compiled_dir`` into ``result.run_dir`` (refused if it exists, unless ``force``)."""
    record = ModelRecord.read(compiled_dir)
    settings = {k: v for k, v in record.settings.items() if k != "cache_dir"}
    engine = {"backend": profile.backend.value, "status": "ready", "model": f"{MODEL_DIR}/{record.model.name}",
              "settings": {**settings, "threads": ctx.threads}, "recipe": None}
    plans = result.plans
    parts = BundleParts(
        loaded=ctx.loaded, profile=profile, model_dir=compiled_dir, engine=engine,
        accuracy=result.accuracy, perf=perf, plan_evidence=plans.evidence() if plans else {},
        verdicts=[v.to_dict() for v in result.verdicts], passed=result.passed, samples=ctx.splits["internal"],
        calibration=ctx.calibration.record() if ctx.calibration else None, data=result.data,
        build_log=shippable_log(ctx, result),
        candidate_factory=lambda: open_runner(compiled_dir, profile, ctx.threads),
        extra_texts={**({"plans.json": json.dumps(plans.to_dict(), indent=1, default=str) + "\n"} if plans else {}),
                     **({ROBUSTNESS_FILE: json.dumps(result.robustness, indent=1) + "\n"} if result.robustness else {})},
        evidence_isa=ctx.evidence_isa or None,
        target_check=conformance_check(profile, result, lambda label: ctx.on_stage(label, None)),
    )
    return write_bundle(parts, result.run_dir, force=ctx.options.force)


def shippable_log(ctx: BuildContext, result: BuildResult) -> str | None:
    """The build log so far, with this machine's paths replaced by placeholders (bundles carry no paths)."""
    if result.logs is None:
        return None
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = result.logs.path.read_text(encoding="utf-8", errors="replace")
    return scrub_paths(text, {str(Path(ctx.options.out).resolve()): "<out>", str(Path(ctx.data).resolve()): "<data>",
                              sys.prefix: "<python>", str(SOURCE_ROOT): "<edgeus-src>",
                              tempfile.gettempdir(): "<tmp>", str(Path.home()): "~", str(Path.cwd()): "<cwd>"})
