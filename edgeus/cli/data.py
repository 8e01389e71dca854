"""``edgeus data ...``: phantom generation and dataset checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeus.cli.args import add_json_option, emit_json
from edgeus.errors import DataError


def cmd_phantom(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, progress_bar
    from edgeus.contracts.tasks import load_catalog
    from edgeus.data.phantom import generate_phantom
    from edgeus.data.phantom_shift import parse_shifts

    try:
        shift = parse_shifts(args.shift or "")
    except ValueError as exc:
        raise DataError(f"--shift: {exc}") from None
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    rows = len(load_catalog().tasks)
    train_n = args.train_per_task or args.per_task
    total = sum((train_n if s == "train" else args.per_task) * rows for s in splits)
    with progress_bar("phantom", total) as advance:
        summary = generate_phantom(args.output, per_task=args.per_task, seed=args.seed, splits=splits,
                                   train_per_task=args.train_per_task, force=args.force, progress=advance,
                                   shift=shift)
    n = sum(sum(c.values()) for c in summary.counts.values())
    shifted = ", ".join(f"{f} severity {s}" for f, s in shift.items())
    console.print(f"wrote {n} images ({', '.join(summary.counts)}) to {summary.root} (seed {summary.seed}"
                  + (f"; acquired under {shifted}" if shifted else "") + ")")
    emit_json(args.json, {"root": str(summary.root), "seed": summary.seed, "images": n, "counts": summary.counts,
                          "shift": shift})
    return 0


def cmd_cine(args: argparse.Namespace) -> int:
    from edgeus.data.phantom_cine import cine_frames, write_cine

    fmt = args.format or ("folder" if not args.output.suffix else args.output.suffix.lstrip(".").lower())
    frames = cine_frames(args.dataset, args.task, args.frames, args.seed)
    out = write_cine(frames, args.output, fmt, fps=args.fps, photometric=args.photometric, force=args.force)
    print(f"wrote a {len(frames)}-frame {frames[0].shape[1]}x{frames[0].shape[0]} phantom cine ({fmt}, {args.fps:g} fps) "
          f"to {out}")
    emit_json(args.json, {"output": str(out), "format": fmt, "frames": len(frames), "width": int(frames[0].shape[1]),
                          "height": int(frames[0].shape[0]), "fps": args.fps})
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, print_coverage
    from edgeus.contracts.tasks import load_catalog
    from edgeus.data.uusic25 import read_dataset

    catalog = load_catalog()
    dataset = read_dataset(args.folder, catalog, records=args.records)
    print_coverage(f"{dataset.root} ({dataset.layout} layout)", dataset.coverage(), [t.key for t in catalog.tasks])
    missing = dataset.require_tasks(catalog, allow_missing=True)
    depths = ", ".join(f"{n} {what}" for what, n in dataset.depths.most_common())
    console.print(f"image bit depths: {depths or 'none read'}", highlight=False)
    for note in dataset.resolved_by_organ[:5]:
        console.print(f"[yellow]resolved by organ[/yellow] {note}", highlight=False)
    for problem in dataset.problems:
        console.print(f"[red]problem[/red] {problem}")
    emit_json(args.json, {"root": str(dataset.root), "layout": dataset.layout, "samples": len(dataset.samples),
                          "coverage": dataset.coverage(), "missing_tasks": missing,
                          "bit_depths": dict(dataset.depths), "resolved_by_organ": dataset.resolved_by_organ,
                          "problems": dataset.problems, "passed": not dataset.problems and not missing})
    if dataset.problems:
        raise DataError(f"{dataset.root}: {len(dataset.problems)} problem(s), listed above")
    if missing:
        raise DataError(f"{dataset.root}: no samples for task(s) {', '.join(missing)}")
    console.print(f"{len(dataset.samples)} samples, every task present, no problems")
    return 0


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    p_data = sub.add_parser("data", help="phantom data and UUSIC25 dataset checks")
    data_sub = p_data.add_subparsers(dest="action", metavar="ACTION")
    data_sub.required = True

    p = data_sub.add_parser("phantom", help="write a synthetic UUSIC25-layout dataset (B-mode phantoms)")
    p.add_argument("output", type=Path, help="folder to create")
    p.add_argument("--per-task", type=int, default=24, help="images per task row in each evaluation split")
    p.add_argument("--train-per-task", type=int, default=None, help="images per task row in train (default: --per-task)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", default="train,val,external", help="comma-separated: train, val, external")
    p.add_argument("--shift", help="acquire under ultrasound shifts, FAMILY=SEVERITY[,...] (gain, gain_up, contrast, "
                                   "tgc, speckle, sector; severity 0..5): the same scenes, other scanner settings")
    p.add_argument("--force", action="store_true", help="replace the folder if it exists")
    add_json_option(p, "also write the counts as JSON to FILE ('-': standard output, alone)")
    p.set_defaults(handler=cmd_phantom)

    p = data_sub.add_parser("cine", help="write a short phantom cine loop (a probe sweeping one scene) as PNG frames, "
                                         "a video or a multi-frame DICOM file")
    p.add_argument("output", type=Path, help="a folder, FILE.mkv (lossless), FILE.mp4 (H.264) or FILE.dcm")
    p.add_argument("--format", choices=["folder", "mkv", "mp4", "dcm"], help="default: from the output's extension")
    p.add_argument("--frames", type=int, default=48, help="1 to 10,000 (the cine is held in memory whole)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--dataset", default="Breast")
    p.add_argument("--task", default="segmentation", choices=["segmentation", "classification"])
    p.add_argument("--photometric", default="MONOCHROME2", choices=["MONOCHROME2", "RGB", "YBR_FULL"],
                   help="DICOM photometric interpretation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")
    add_json_option(p, "also write what was written as JSON to FILE ('-': standard output, alone)")
    p.set_defaults(handler=cmd_cine)

    p = data_sub.add_parser("check", help="read a UUSIC25-layout folder and report coverage and problems")
    p.add_argument("folder", type=Path)
    p.add_argument("--records", type=Path, help="JSON record list (default: FOLDER/records.json if present)")
    add_json_option(p, "also write coverage and problems as JSON to FILE ('-': standard output, alone; written "
                       "before a failing exit)")
    p.set_defaults(handler=cmd_check)
