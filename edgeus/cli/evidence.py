"""``edgeus validate``, ``edgeus profile`` and ``edgeus build``."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeus.cli.args import add_json_option, emit_json, profile_dirs
from edgeus.errors import EdgeusError


def _runnable(spec: str, checkpoint: str | None, profile, threads: int | None):
    from edgeus.backends.registry import open_runnable

    return open_runnable(spec, checkpoint, profile, threads)


def _data_root(args: argparse.Namespace) -> Path:
    from edgeus.data.defaults import default_phantom

    return Path(args.data) if args.data else default_phantom()


def cmd_validate(args: argparse.Namespace) -> int:
    from edgeus.cli.build_console import blocking_summary, print_verdicts
    from edgeus.cli.console import print_accuracy_report, status
    from edgeus.contracts.profiles import load_profile
    from edgeus.contracts.spec import load_spec
    from edgeus.data.defaults import validation_splits
    from edgeus.errors import BudgetFailed
    from edgeus.models import model_spec
    from edgeus.pipeline.verdicts import accuracy_verdicts, all_passed
    from edgeus.stages.validate import validate

    profile = _strict(load_profile(args.target, profile_dirs(args)), args.strict)
    threads = args.threads or profile.runtime.threads
    ref, ref_spec = _runnable(args.reference, args.reference_checkpoint, profile, threads)
    cand, cand_spec = _runnable(args.candidate, None, profile, threads)
    spec = load_spec(args.spec) if args.spec else (ref_spec or cand_spec or model_spec("uniusnet"))
    splits = validation_splits(_data_root(args), spec, args.allow_missing_tasks)
    if args.farm:  # predictions sharded over the devices serving the profile; scored here, as one run
        from edgeus.farm.shard import RunnerRecipe, sharded_predictor

        recipes = {role: RunnerRecipe(str(Path(m).absolute()) if Path(m).exists() else m, ckpt, profile.name, threads)
                   for role, m, ckpt in (("reference", args.reference, args.reference_checkpoint),
                                         ("candidate", args.candidate, None))}
        predictor = sharded_predictor(args.farm, recipes, spec, profile.name, args.shards)
        with status("validating on the farm"):
            report = validate(ref, cand, spec, splits, profile.budgets.accuracy_drop, seed=args.seed, predictor=predictor)
    else:
        with status("validating"), ref, cand:
            report = validate(ref, cand, spec, splits, profile.budgets.accuracy_drop, seed=args.seed)
    print_accuracy_report(report)
    verdicts = accuracy_verdicts(report)
    print_verdicts(verdicts, "Accuracy gates", strict=profile.budgets.strict)
    emit_json(args.json, report.to_dict())
    if not all_passed(verdicts, profile.budgets.strict):
        raise BudgetFailed(f"accuracy gates blocked: {blocking_summary(verdicts, profile.budgets.strict)}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from edgeus.backends.registry import open_runner
    from edgeus.cli.build_console import blocking_summary, print_verdicts
    from edgeus.cli.console import console, print_perf_report, status
    from edgeus.contracts.profiles import load_profile
    from edgeus.contracts.spec import load_spec
    from edgeus.data.defaults import validation_splits
    from edgeus.errors import BudgetFailed
    from edgeus.models import model_spec
    from edgeus.pipeline.profile_worker import MODEL_SUFFIXES
    from edgeus.pipeline.verdicts import all_passed, is_target_machine, perf_verdicts
    from edgeus.stages.profile import profile_model
    from edgeus.util.toolchain import usable_cores

    profile = _strict(load_profile(args.target, profile_dirs(args)), args.strict)
    asked = args.threads or profile.runtime.threads
    threads = min(asked, usable_cores())  # more threads than cores would time the scheduler, not the model
    path = Path(args.model)
    if not path.exists():
        raise EdgeusError(f"{path}: model not found (give an .onnx/.xml file or a compile/quantize folder)")
    spec = load_spec(args.spec) if args.spec else model_spec("uniusnet")
    samples = validation_splits(_data_root(args), spec, True)["internal"]
    files = [p for p in (path.iterdir() if path.is_dir() else [path]) if p.suffix in MODEL_SUFFIXES]
    if path.suffix == ".xml":
        files.append(path.with_suffix(".bin"))
    with status(f"profiling {path.name}"):
        perf = profile_model(lambda: open_runner(path, profile, threads), spec, samples, model_files=files,
                             batch_sizes=profile.runtime.batch_sizes, threads=threads, min_iters=args.min_iters,
                             min_duration_s=args.min_duration)
    if threads < asked:  # said with the results: a failure before them stays one line
        console.print(f"timing with {threads} threads, the cores this machine has ({asked} asked)", highlight=False)
    print_perf_report(perf)
    # speed and memory gate only on the profile's device; elsewhere they are projections (inconclusive)
    verdicts = perf_verdicts(profile, perf, measured_on_target=is_target_machine(profile))
    print_verdicts(verdicts, strict=profile.budgets.strict)
    emit_json(args.json, perf.to_dict())
    if not all_passed(verdicts, profile.budgets.strict):
        raise BudgetFailed(f"performance budget blocked for {profile.name}: "
                           + blocking_summary(verdicts, profile.budgets.strict))
    return 0


def _targets(args: argparse.Namespace) -> list[str]:
    """--target A,B,... or 'all' (every known profile)."""
    from edgeus.contracts.profiles import list_profiles

    if args.target == "all":
        return [p.name for p in list_profiles(profile_dirs(args))]
    names = [t.strip() for t in args.target.split(",") if t.strip()]
    if not names:
        raise EdgeusError("--target names no profile")
    return list(dict.fromkeys(names))


def _build_many(args: argparse.Namespace, targets: list[str]) -> int:
    """Several targets: on the device farm (--farm), else one after another on this machine."""
    from edgeus.cli.console import console, print_farm_outcomes
    from edgeus.contracts.profiles import load_profile
    from edgeus.errors import BudgetFailed
    from edgeus.pipeline.flow import BuildOptions, build

    # every name checked before anything runs anywhere; the loaded profiles travel to the farm's devices
    profiles = {name: _strict(load_profile(name, profile_dirs(args)), args.strict) for name in targets}
    options = BuildOptions(model=args.model, checkpoint=args.checkpoint, spec_file=args.spec,
                           data=Path(args.data).absolute() if args.data else None, out=Path(args.output).absolute(),
                           threads=args.threads, allow_missing_tasks=args.allow_missing_tasks, seed=args.seed,
                           force=args.force, verbose=False, plan=args.plan, robustness=not args.no_robustness)
    if args.farm:
        from edgeus.farm.build import farm_build

        outcomes = farm_build(targets, options, args.farm, profiles=profiles,
                              on_event=lambda t, text: console.print(f"[dim]{t}: {text}[/dim]", highlight=False))
    else:
        from edgeus.farm.build import FarmOutcome

        outcomes = []
        for name in targets:
            console.print(f"[bold]{name}[/bold]")
            try:
                result = build(profiles[name], options)
                outcomes.append(FarmOutcome(name, "done", str(result.run_dir), result.passed))
            except EdgeusError as exc:
                outcomes.append(FarmOutcome(name, "failed", reason=str(exc)))
    print_farm_outcomes(outcomes)
    failed = [o for o in outcomes if o.state != "done"]
    if failed:
        raise EdgeusError("target(s) failed: " + "; ".join(f"{o.target} ({o.reason})" for o in failed))
    blocked = [o.target for o in outcomes if o.passed is False]
    if blocked:
        raise BudgetFailed(f"budget gates blocked for {', '.join(blocked)} (see their report.md)")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from edgeus.cli.build_console import (
        blocking_summary,
        headline,
        lead_lines,
        print_build_summary,
        print_library_warnings,
        print_plans,
        print_verdicts,
        stage_reporter,
    )
    from edgeus.cli.console import console, print_accuracy_report, print_perf_report, progress_bar
    from edgeus.contracts.profiles import load_profile
    from edgeus.errors import BudgetFailed
    from edgeus.pipeline.flow import BuildOptions, build

    if args.plan is not None and not args.plan.strip():  # "" would read as "not given": the profile's plan
        raise EdgeusError("--plan is empty; give auto or a plan name")
    targets = _targets(args)
    if args.farm or len(targets) > 1:
        return _build_many(args, targets)
    profile = _strict(load_profile(targets[0], profile_dirs(args)), args.strict)
    options = BuildOptions(model=args.model, checkpoint=args.checkpoint, spec_file=args.spec,
                           data=Path(args.data) if args.data else None, out=Path(args.output), threads=args.threads,
                           allow_missing_tasks=args.allow_missing_tasks, seed=args.seed, force=args.force,
                           verbose=args.verbose, plan=args.plan, robustness=not args.no_robustness)
    for line in lead_lines(profile, options):  # first: target, plan, and whether the evidence is synthetic
        console.print(line, highlight=False)
    def progress_for(description: str, total: int | None):  # in a log, the stage lines say enough without -v
        return progress_bar(description, total, plain_lines=args.verbose)

    with stage_reporter(True if args.verbose else None) as on_stage:
        result = build(profile, options, on_stage=on_stage, progress_for=progress_for)
    console.print(headline(result, profile), highlight=False)
    emit_json(args.json, build_outcome(result, profile))
    for note in result.notes:
        console.print(note, highlight=False)
    strict = profile.budgets.strict
    if result.stopped_after == "engine pending":
        print_accuracy_report(result.accuracy)
        print_verdicts(result.verdicts, strict=strict)
        print_library_warnings(result)
        if profile.backend.value == "coreml":
            console.print(f"[yellow]{profile.name}: Core ML package pending (compiled and run on a Mac): bundle "
                          f"{result.run_dir} holds the .mlpackage, the portable fp32 ONNX, the recipe and the "
                          "conformance vectors; its accuracy above is the plan's torch-side simulation. On a Mac run: "
                          f"edgeus finalize {result.run_dir} (model/recipe.json says what it does)[/yellow]")
        else:
            console.print(f"[yellow]{profile.name}: TensorRT engine pending (built on the target): bundle {result.run_dir} "
                          "holds the fp32 and QDQ ONNX, the build recipe and the conformance vectors. On the device run: "
                          f"edgeus finalize {result.run_dir}[/yellow]")
        if not result.passed:
            raise BudgetFailed(f"{profile.name}: accuracy gates of the portable model blocked: "
                               f"{blocking_summary(result.verdicts, strict)} (see {result.run_dir})")
        return 0
    print_plans(result.plans, full=args.verbose)
    if args.verbose:  # the per-task and per-percentile tables: in report.md, and here with -v
        print_accuracy_report(result.accuracy)
        print_perf_report(result.perf)
    print_verdicts(result.verdicts, strict=strict, explain=args.verbose)
    print_build_summary(result, strict, verbose=args.verbose)
    if result.plans is not None and result.plans.chosen is None:
        closest = result.plans.shipped
        raise BudgetFailed(f"{profile.name}: no plan passes every gate; closest: {closest.plan.name} "
                           f"({blocking_summary(closest.verdicts, strict)}); its bundle, marked failed, is in "
                           f"{result.run_dir}")
    if not result.passed:
        raise BudgetFailed(f"{profile.name}: budget gates blocked: {blocking_summary(result.verdicts, strict)} "
                           f"(details in {result.run_dir})")
    return 0


def build_outcome(result, profile) -> dict:
    """``build --json``: what a script needs from a build (the bundle holds the rest)."""
    from dataclasses import asdict

    from edgeus.cli.build_console import shipped_plan

    plans = result.plans
    return {"target": profile.name, "bundle": str(result.run_dir), "plan": shipped_plan(result, profile), "passed": result.passed,
            "chosen": plans is None or plans.chosen is not None, "evidence": result.data,
            "verdicts": [asdict(v) for v in result.verdicts],
            "plans": plans.to_dict() if plans is not None else None,
            "vs_peers": (plans.shipped.timing or {}).get("vs_peers") if plans is not None and plans.shipped else None,
            "robustness": ({"passed": result.robustness["passed"], "shifts": len(result.robustness["shifts"]),
                            "images": result.robustness["images"]} if result.robustness else None),
            "engine_pending": result.stopped_after == "engine pending"}


def _strict(profile, strict: bool):
    """``--strict`` makes inconclusive accuracy gates block, whatever the profile says."""
    if not strict or profile.budgets.strict:
        return profile
    return profile.model_copy(update={"budgets": profile.budgets.model_copy(update={"strict": True})})


STRICT_HELP = ("inconclusive gates block with exit 2, as for a release: accuracy gates whose paired CI spans the "
               "budget and 0, speed and memory measured off the target (another CPU), conformance not checked on "
               "the target ISA; "
               "default: the profile's budgets.strict, else they warn")


def add_evidence_commands(sub: argparse._SubParsersAction, profile_opts: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", required=True, help="device profile")
    common.add_argument("--data", help="UUSIC25 folder or phantom root with val/ (and external/) splits "
                                       "(default: phantom data)")
    common.add_argument("--spec", help="model spec TOML (default: the uniusnet contract)")
    common.add_argument("--threads", type=int)
    add_json_option(common)

    p = sub.add_parser("validate", parents=[profile_opts, common], help="per-task accuracy drop of a candidate vs a reference")
    p.add_argument("--reference", required=True, help="model file/folder, or a model name / package.module:factory (torch)")
    p.add_argument("--reference-checkpoint", help="checkpoint for a torch reference")
    p.add_argument("--candidate", required=True, help="model file or compile/quantize folder")
    p.add_argument("--allow-missing-tasks", action="store_true")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.add_argument("--farm", metavar="ADDRESS", help="predict on the devices of the farm at ADDRESS that serve the "
                                                     "--target profile, sharded (models and data on a shared path)")
    p.add_argument("--shards", type=int, help="with --farm: shards (default: one per device serving the profile)")
    p.set_defaults(handler=cmd_validate, library_log="validate")

    p = sub.add_parser("profile", parents=[profile_opts, common], help="latency, throughput, memory against budgets")
    p.add_argument("model", help="model file (.onnx/.xml) or compile/quantize folder")
    p.add_argument("--min-iters", type=int, default=30)
    p.add_argument("--min-duration", type=float, default=3.0, help="seconds of timed compute iterations at least")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.set_defaults(handler=cmd_profile, library_log="profile")

    p = sub.add_parser("build", parents=[profile_opts], help="export -> quantize -> compile -> validate -> profile")
    p.add_argument("--target", required=True, help="device profile; several as A,B,... or all (every profile)")
    p.add_argument("--model", default="uniusnet-small", help="built-in model or package.module:factory")
    p.add_argument("--checkpoint")
    p.add_argument("--spec")
    p.add_argument("--data", help="UUSIC25 folder or phantom root (default: phantom data, generated once)")
    p.add_argument("-o", "--output", default="dist", help="output root (run folder: <model>-<profile>-<plan>)")
    p.add_argument("--farm", metavar="ADDRESS", help="build on the device farm at ADDRESS (the Ray head, host:port): "
                   "each target on a device that serves its profile (see 'edgeus farm')")
    p.add_argument("--plan", help="auto (build every plan the target can run, ship the fastest that passes every "
                                  "gate) or a plan name: fp32, bf16, fp16, int8, int8-hint, int8-auto, int8-auto+bf16, "
                                  "... (default: the profile's plan, else auto)")
    p.add_argument("--threads", type=int)
    p.add_argument("--allow-missing-tasks", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing bundle (cached stages are reused)")
    p.add_argument("--strict", action="store_true", help=STRICT_HELP)
    p.add_argument("--no-robustness", action="store_true",
                   help="skip the robustness-under-shift stage (quicker iterations; refused where the profile gates it)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show library logs (NNCF, OpenVINO, ONNX Runtime) on the console too; they are always in build.log")
    add_json_option(p, "also write the build's outcome (bundle, plan, verdicts, plans) as JSON to FILE ('-': standard output, alone)")
    p.set_defaults(handler=cmd_build)
