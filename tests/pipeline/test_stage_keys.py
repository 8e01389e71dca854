"""One stage seam (pipeline/stages.py): the build, the farm's prepare and finalize compute each stage's key
with the same function, so the same inputs give the same keys wherever a stage runs, and finalize's evidence
tail (validate, profile) goes through the same cache.

(TensorRT itself cannot run here: the engine build of finalize is tested in test_finalize_tensorrt.py, marked.
Its evidence tail is backend-agnostic and runs here on the deferred bundle's own QDQ model.)"""

from __future__ import annotations

import json

from conftest import copy_bundle

from edgeus.contracts.plans import candidate_plans
from edgeus.contracts.profiles import load_profile
from edgeus.pipeline.context import CACHE_DIR, BuildOptions, build_context
from edgeus.pipeline.device_evidence import device_evidence
from edgeus.pipeline.flow import prepare
from edgeus.pipeline.stages import Validation, validate_key
from edgeus.runtime.manifest import read_manifest
from edgeus.util.toolchain import cpu_isa


def test_prepare_finds_every_stage_the_deferred_build_ran(small_phantom, jetson_bundle):
    # prepare into the build's own output folder: the same inputs, so every stage is found, none re-run
    out = jetson_bundle.parent  # the session's bundles share one -o folder, hence one cache
    options = BuildOptions(data=small_phantom, out=out, threads=2, plan="int8-hint")
    profile = load_profile("jetson-orin-nano")
    stages = prepare(profile, options)
    assert [(s.name, s.cached) for s in stages] == [("export", True), ("quantize", True)]
    # and the build's validate stage of that quantized model has the key the one formula gives for these inputs
    ctx = build_context(profile, options, candidate_plans(profile, "int8-hint", cpu_isa()), bundle=False)
    validation = Validation(out / CACHE_DIR, ctx.spec, profile.budgets.accuracy_drop, ctx.seed, ctx.data_sha256,
                            stages[0].key, lambda: None, ctx.progress_for)
    key = validate_key(validation, stages[1].key, ctx.splits)
    assert (out / CACHE_DIR / f"validate-{key}" / "stage.json").is_file()


def test_finalize_evidence_runs_through_the_stage_cache_and_reuses_it(small_phantom, jetson_bundle, tmp_path):
    bundle = copy_bundle(jetson_bundle, tmp_path)
    manifest = read_manifest(bundle)
    model = bundle / manifest["engine"]["build_input"]  # the QDQ model the engine is built from (ONNX Runtime)
    cache = tmp_path / CACHE_DIR
    first = device_evidence(bundle, manifest, model, small_phantom, 2, cache)
    assert [(s.name, s.cached) for s in first.stages] == [("validate", False), ("profile", False)]
    again = device_evidence(bundle, manifest, model, small_phantom, 2, cache)
    assert [(s.name, s.cached) for s in again.stages] == [("validate", True), ("profile", True)]
    assert [s.key for s in again.stages] == [s.key for s in first.stages]
    assert again.accuracy == first.accuracy and again.perf == first.perf
    # validated against the bundle's portable fp32 ONNX on the given data, every task compared
    assert first.accuracy["reference"] == "onnxruntime-fp32"
    assert set(first.accuracy["splits"]["internal"]["tasks"]) == \
        set(json.loads((bundle / "accuracy.json").read_text())["splits"]["internal"]["tasks"])
