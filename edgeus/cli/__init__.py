"""The edgeus command line (layer 1): parse, call the Python API, print. No logic lives here.

May import every other package; nothing imports it (``edgeus.__main__`` and the console script aside).

Exit codes (EXIT_CODES, also in ``edgeus --help``): 0 success; 1 a user error or the environment (one line
``edgeus: error: ...``; ``-v`` adds the traceback); 2 a budget gate blocked (a build, validate, profile or
finalize that ran but failed its gates); 3 a bundle does not verify (a hash, a conformance vector or its
signature); 64 a command-line usage error (sysexits' EX_USAGE: argparse's and numeric ranges); 70 an internal
error, a bug in edgeus (sysexits' EX_SOFTWARE: one line, ``-v`` shows the traceback); 130 interrupted (143 on
SIGTERM). Heavy libraries are imported inside the handlers so
``edgeus --help`` works without torch, OpenVINO or TensorRT installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from pathlib import Path

from edgeus import __version__
from edgeus.cli import supervise
from edgeus.cli.args import (
    add_json_option,
    check_numbers,
    emit_json,
    json_only_stdout,
    json_option_before_a_folder,
    profile_dirs,
)
from edgeus.errors import EdgeusError, user_error


# --- profiles --------------------------------------------------------------------------------------
def cmd_profiles_list(args: argparse.Namespace) -> int:
    from edgeus.cli.console import print_profiles_table
    from edgeus.contracts.profiles import list_profiles

    profiles = list_profiles(profile_dirs(args))
    if args.json:
        emit_json(args.json, [p.model_dump(mode="json") for p in profiles])
    else:
        print_profiles_table(profiles)
    return 0


def cmd_profiles_show(args: argparse.Namespace) -> int:
    from edgeus.cli.console import print_profile
    from edgeus.contracts.profiles import load_profile

    profile = load_profile(args.name, profile_dirs(args))
    if args.json:
        emit_json(args.json, profile.model_dump(mode="json"))
    else:
        print_profile(profile)
    return 0


# --- models ----------------------------------------------------------------------------------------
def cmd_models_list(args: argparse.Namespace) -> int:
    from edgeus.cli.console import print_models_table
    from edgeus.models import list_models

    entries = list_models()
    print_models_table(entries)
    emit_json(args.json, [{"name": e.name, "description": e.description, "embedded_weights": e.default_weights}
                          for e in entries])
    return 0


# --- export ----------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from edgeus.cli.console import print_export_report, status
    from edgeus.models import load_model
    from edgeus.stages.export import export_onnx

    out = Path(args.output)
    if out.exists() and not args.force:
        raise EdgeusError(f"{out} exists; pass --force to overwrite it")
    with status(f"loading {args.model}"):
        loaded = load_model(args.model, args.checkpoint, args.spec)
    with status(f"exporting {loaded.name} to ONNX and checking parity"):
        report = export_onnx(loaded, out, opset=args.opset, force=args.force, simplify=not args.no_simplify,
                             threads=args.threads, rewrites=[] if args.no_rewrite else None)
    print_export_report(report)
    emit_json(args.json or args.report, report.to_dict())
    return 0


EXIT_USAGE = 64
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE
EXIT_CODES = ("exit codes: 0 success; 1 user error or environment; 2 a budget gate blocked; 3 a bundle does not "
              "verify (hash, vector or signature); 64 usage error; 70 internal error (a bug: run with -v and "
              "report it); 130 interrupted")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, the code edgeus keeps for a failed gate: use EX_USAGE instead."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edgeus",
        description="Compile, quantize, validate and ship universal ultrasound models to edge devices.",
        epilog=EXIT_CODES[0].upper() + EXIT_CODES[1:] + ".",
    )
    parser.add_argument("--version", action="version", version=f"edgeus {__version__}")
    parser.add_argument("-v", "--verbose", dest="global_verbose", action="store_true",
                        help="on an error, also print the traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    profile_opts = argparse.ArgumentParser(add_help=False)
    profile_opts.add_argument("--profiles-dir", action="append", metavar="DIR",
                              help="extra folder of device profiles (repeatable; also $EDGEUS_PROFILES_DIR)")

    # profiles
    p_profiles = sub.add_parser("profiles", help="list or show device profiles")
    prof_sub = p_profiles.add_subparsers(dest="action", metavar="ACTION")
    prof_sub.required = True
    p = prof_sub.add_parser("list", parents=[profile_opts], help="table of all device profiles")
    add_json_option(p, "print JSON instead of a table (to FILE if given)")
    p.set_defaults(handler=cmd_profiles_list)
    p = prof_sub.add_parser("show", parents=[profile_opts], help="one profile in full")
    p.add_argument("name", help="profile name (see 'edgeus profiles list') or path to a .toml file")
    add_json_option(p, "print JSON instead of the tables (to FILE if given)")
    p.set_defaults(handler=cmd_profiles_show)

    # models
    p_models = sub.add_parser("models", help="list the built-in models")
    models_sub = p_models.add_subparsers(dest="action", metavar="ACTION")
    models_sub.required = True
    p = models_sub.add_parser("list", help="table of built-in models")
    add_json_option(p, "also write the models as JSON to FILE ('-': standard output, alone)")
    p.set_defaults(handler=cmd_models_list)

    # export
    p = sub.add_parser("export", help="export a PyTorch model to a parity-checked ONNX file")
    p.add_argument("--model", default="uniusnet-small",
                   help="built-in model name or package.module:factory (default: uniusnet-small)")
    p.add_argument("--checkpoint", help="weights: a state dict (.pt/.pth, loaded with weights_only) or .safetensors")
    p.add_argument("--spec", help="model spec TOML (required for a factory model)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--threads", type=int, default=None, help="threads for the parity runs")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim graph simplification")
    p.add_argument("--no-rewrite", action="store_true",
                   help="export the model as written, without the deployment rewrites its spec lists (deploy_rewrites)")
    add_json_option(p, "also write the export report as JSON to FILE ('-': standard output)")
    p.add_argument("--report", help=argparse.SUPPRESS)  # the old name of --json FILE
    p.add_argument("--force", action="store_true", help="overwrite the output")
    p.set_defaults(handler=cmd_export, library_log="export")

    from edgeus.cli.cache import add_cache_command
    from edgeus.cli.data import add_data_commands
    from edgeus.cli.evidence import add_evidence_commands
    from edgeus.cli.farm import add_farm_commands
    from edgeus.cli.quantize import add_quantize_commands
    from edgeus.cli.robustness import add_robustness_command
    from edgeus.cli.ship import add_ship_commands

    add_data_commands(sub)
    add_cache_command(sub)
    add_quantize_commands(sub, profile_opts)
    add_evidence_commands(sub, profile_opts)
    add_robustness_command(sub, profile_opts)
    add_ship_commands(sub)
    add_farm_commands(sub, profile_opts)
    return parser


@contextlib.contextmanager
def _library_logs(command: str | None, verbose: bool):
    """A stage command run alone is as quiet as a build: NNCF's, OpenVINO's and ONNX Runtime's logs and progress
    bars go to a log file (``-v`` shows them too); the distinct warnings are summarised in one line at the end."""
    if command is None:
        yield
        return
    from edgeus.cli.console import console
    from edgeus.util.logs import capture_library_logs, command_log_path

    pinned = console._file  # our console keeps today's stdout: the capture takes what libraries print there
    console.file = sys.stdout
    try:
        with capture_library_logs(command_log_path(command), verbose) as logs:
            yield
    finally:
        console._file = pinned
    if logs.warnings:
        first = logs.summary(limit=1)[0]
        print(f"{len(logs.warnings)} distinct library warning(s), in full in {logs.path} (first: {first})",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(json_option_before_a_folder(list(sys.argv[1:] if argv is None else argv)))
    verbose = args.global_verbose or getattr(args, "verbose", False)
    outputs = getattr(args, "supervised_outputs", None)
    if supervise.wanted(argv is not None, outputs):  # runtime commands: Ctrl-C must work even if a native call hangs
        return supervise.supervise(sys.argv[1:], [Path(getattr(args, name)) for name in outputs
                                                  if getattr(args, name, None)])
    try:
        with supervise.terminate_as_interrupt(), json_only_stdout(getattr(args, "json", None) == "-"):
            check_numbers(args)
            with _library_logs(getattr(args, "library_log", None), verbose):
                return int(args.handler(args) or 0)
    except KeyboardInterrupt as exc:
        print("edgeus: interrupted", file=sys.stderr, flush=True)
        code = 143 if isinstance(exc, supervise.Terminated) else 130
        if supervise.is_child():  # tidied up already; a thread still inside a native call must not abort the exit
            sys.stdout.flush()
            os._exit(code)
        return code
    except Exception as exc:  # noqa: BLE001 -- user errors become one line; a bug one line too, exit 70
        error = user_error(exc)
        if error is None:
            if verbose:
                traceback.print_exc()
            message = " ".join(f"{exc.__class__.__name__}: {exc}".split())[:500]
            print(f"edgeus: internal error: {message} (a bug in edgeus: run with -v for the traceback and report "
                  "it)", file=sys.stderr)
            return EXIT_INTERNAL
        if verbose:
            traceback.print_exc()
        message = " ".join(str(error).split())  # one line, whatever the message held
        print(f"edgeus: error: {message}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
