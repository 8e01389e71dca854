"""``edgeus cache info|prune|clean [-o OUT]``: the stage cache a build keeps in ``OUT/.edgeus-cache`` (every
stage's output, named by a content hash of its inputs: what makes a rebuild or another target's build fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeus.cli.args import add_json_option, emit_json


def cmd_cache(args: argparse.Namespace) -> int:
    import shutil

    from edgeus.cli.console import console
    from edgeus.errors import UsageError
    from edgeus.pipeline.cache import cache_usage, finished_stages, prune_stages
    from edgeus.pipeline.context import CACHE_DIR
    from edgeus.util.lock import output_lock

    out = Path(args.output)
    stages_dir = out / CACHE_DIR
    if args.action == "info":
        usage = cache_usage(stages_dir)
        total = sum(k.bytes for k in usage)
        for k in usage:
            console.print(f"{k.kind:>12}: {k.stages:3d} stage(s), {k.bytes / 2**20:8.1f} MiB", highlight=False)
        console.print(f"{stages_dir}: {sum(k.stages for k in usage)} stages, {total / 2**20:.1f} MiB "
                      "('edgeus cache prune --older-than DAYS' or 'clean' frees it; builds recompute what they need)",
                      highlight=False)
        emit_json(args.json, {"cache": str(stages_dir), "bytes": total,
                              "kinds": [{"kind": k.kind, "stages": k.stages, "bytes": k.bytes} for k in usage]})
        return 0
    if not stages_dir.is_dir():
        console.print(f"{stages_dir}: no stage cache here", highlight=False)
        emit_json(args.json, {"cache": str(stages_dir), "removed": 0, "kept": 0})
        return 0
    with output_lock(out):  # never under a running build's feet: it holds this lock for its whole run
        if args.action == "prune":
            if args.older_than is None:
                raise UsageError("cache prune needs --older-than DAYS (stages not used for that long are removed)")
            removed = prune_stages(stages_dir, args.older_than)
            kept = len(finished_stages(stages_dir))
            console.print(f"removed {len(removed)} stage(s) not used for {args.older_than:g} day(s); {kept} kept",
                          highlight=False)
            emit_json(args.json, {"cache": str(stages_dir), "removed": len(removed), "kept": kept})
        else:
            count = len(finished_stages(stages_dir))
            shutil.rmtree(stages_dir)
            console.print(f"removed {stages_dir} ({count} stage(s)); the next build recomputes every stage",
                          highlight=False)
            emit_json(args.json, {"cache": str(stages_dir), "removed": count, "kept": 0})
    return 0


def add_cache_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="the stage cache of an output folder: its size, prune old stages, clean it")
    p.add_argument("action", choices=["info", "prune", "clean"])
    p.add_argument("-o", "--output", default="dist", help="the build's output folder (default: dist)")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="prune: stages not used for this many days")
    add_json_option(p, "also write the usage (info) or what was removed (prune, clean) as JSON to FILE ('-': "
                       "standard output, alone)")
    p.set_defaults(handler=cmd_cache)
