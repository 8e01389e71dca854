"""``edgeus quantize`` and ``edgeus compile``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeus.cli.args import add_json_option, emit_json, profile_dirs


def _split_list(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for item in (values or []) for v in item.split(",") if v)


def load_calibration(args: argparse.Namespace, spec, profile):
    from edgeus.cli.console import progress_bar
    from edgeus.data.calibration import plan_for_profile
    from edgeus.data.defaults import DEFAULT_PER_TASK, default_phantom, split_folder
    from edgeus.data.uusic25 import read_dataset

    if args.data:
        root = Path(args.data)
    else:
        with progress_bar("phantom data (first use)", 3 * DEFAULT_PER_TASK * len(spec.task_catalog().tasks)) as adv:
            root = default_phantom(progress=adv)
    dataset = read_dataset(split_folder(root, "calibration"), spec.task_catalog(), records=args.records)
    return plan_for_profile(dataset, spec, profile.quantization, seed=args.seed,
                            allow_missing_tasks=args.allow_missing_tasks, per_task=args.per_task,
                            max_samples=args.max_samples)


def cmd_quantize(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, print_coverage, status
    from edgeus.contracts.profiles import Precision, load_profile
    from edgeus.contracts.spec import load_spec
    from edgeus.errors import OutputExistsError, QuantizeError
    from edgeus.models import model_spec
    from edgeus.stages.model_inputs import check_inputs_match
    from edgeus.stages.quantize import QuantizeOptions, quantize

    profile = load_profile(args.target, profile_dirs(args))
    spec = load_spec(args.spec) if args.spec else model_spec("uniusnet")
    out = Path(args.output)
    if out.exists() and not args.force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    if Path(args.model).is_file():  # a model that does not take the spec's inputs: before calibration data is read
        check_inputs_match(Path(args.model), spec, QuantizeError)
    precision = Precision(args.precision) if args.precision else profile.precision
    plan = load_calibration(args, spec, profile) if precision in (Precision.int8, Precision.mixed) else None
    if plan is not None:
        print_coverage(f"calibration: {len(plan)} samples, fingerprint {plan.fingerprint[:16]}",
                       plan.coverage, [t.key for t in spec.task_catalog().tasks])
    options = QuantizeOptions(
        precision=precision, ort_calibration_method=args.calibration_method,
        ignored_names=_split_list(args.ignore_names), ignored_patterns=_split_list(args.ignore_patterns),
        ignored_types=_split_list(args.ignore_types), reduce_range=args.reduce_range,
        fast_bias_correction=not args.full_bias_correction,
    )
    with status(f"quantizing for {profile.name} ({profile.backend.value}, {precision.value})"):
        result = quantize(args.model, profile, spec, out, plan, options, force=args.force)
    console.print(f"{result.method} -> {Path(args.output) / result.path} ({result.time_s:.1f} s)")
    for note in result.notes:
        console.print(f"  note: {note}")
    emit_json(args.json, {"output": str(out), **result.to_dict()})
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, status
    from edgeus.contracts.profiles import load_profile
    from edgeus.contracts.spec import load_spec
    from edgeus.models import model_spec
    from edgeus.stages.compile import compile_model

    profile = load_profile(args.target, profile_dirs(args))
    spec = load_spec(args.spec) if args.spec else model_spec("uniusnet")
    with status(f"compiling for {profile.name}"):
        result = compile_model(args.model, profile, args.output, threads=args.threads, force=args.force, spec=spec)
    console.print(f"{profile.backend.value} -> {Path(args.output) / result.path}; cold start {json.dumps(result.cold_start_s)}")
    for note in result.notes:
        console.print(f"  note: {note}")
    emit_json(args.json, {"output": str(args.output), **result.to_dict()})
    return 0


def add_quantize_commands(sub: argparse._SubParsersAction, profile_opts: argparse.ArgumentParser) -> None:
    p = sub.add_parser("quantize", parents=[profile_opts], help="INT8/FP16 by the profile's backend and precision")
    p.add_argument("model", help="fp32 ONNX from 'edgeus export'")
    p.add_argument("--target", required=True, help="device profile")
    p.add_argument("-o", "--output", required=True, help="output folder (model + quantize.json)")
    p.add_argument("--data", help="calibration data: a UUSIC25 folder or phantom root (default: phantom data)")
    p.add_argument("--records", help="JSON record list for an evaluation-layout folder")
    p.add_argument("--spec", help="model spec TOML (default: the uniusnet contract)")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8", "mixed"], help="override the profile's precision")
    p.add_argument("--calibration-method", choices=["minmax", "entropy", "percentile"], help="ONNX Runtime only")
    p.add_argument("--ignore-names", action="append", help="node names kept in float (comma-separated, repeatable)")
    p.add_argument("--ignore-patterns", action="append", help="regular expressions over node names")
    p.add_argument("--ignore-types", action="append",
                   help="op types kept in float, e.g. MatMul (ONNX Runtime quantizes only Conv, MatMul, Gemm)")
    p.add_argument("--per-task", type=int, help="calibration samples per task row (default: the profile's)")
    p.add_argument("--max-samples", type=int, help="calibration cap (default: the profile's)")
    p.add_argument("--seed", type=int, default=0, help="calibration sampling seed")
    p.add_argument("--allow-missing-tasks", action="store_true", help="calibrate even if a task row has no data")
    p.add_argument("--reduce-range", action="store_true", help="ORT: 7-bit weights (x86 CPUs without VNNI)")
    p.add_argument("--full-bias-correction", action="store_true", help="NNCF: full instead of fast bias correction")
    add_json_option(p, "also write the quantize record (method, calibration, float scope) as JSON to FILE ('-': "
                       "standard output, alone)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_quantize, library_log="quantize")

    p = sub.add_parser("compile", parents=[profile_opts], help="compile a (quantized) model for the profile's runtime")
    p.add_argument("model", help="quantize output folder or a model file (.onnx / .xml)")
    p.add_argument("--target", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--threads", type=int, help="override the profile's threads")
    p.add_argument("--spec", help="model spec TOML: the inputs the model must take (default: the uniusnet spec)")
    add_json_option(p, "also write the compile record (runtime, cold start) as JSON to FILE ('-': standard output, "
                       "alone)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_compile, library_log="compile")
