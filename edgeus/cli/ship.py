"""Shipping commands: ``verify``, ``pack``, ``unpack``, ``run``, ``compare`` and ``uusic25 predict|score``.

``run`` and ``uusic25 predict`` go through the vendor runtime only (no torch), as a scanner would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeus.cli.args import add_json_option, emit_json
from edgeus.errors import EdgeusError, OutputExistsError, SignatureError, VerifyFailed
from edgeus.util.atomic import write_atomic


def cmd_verify(args: argparse.Namespace) -> int:
    from edgeus.bundle.verify import verify
    from edgeus.cli.console import console, print_conformance, progress_bar
    from edgeus.runtime.manifest import read_manifest

    bundle = Path(args.bundle)
    manifest = read_manifest(bundle)  # read once: the counts, the failed mark and the final line use it
    with progress_bar("conformance vectors" + (" (emulated)" if args.emulate else ""),
                      len(manifest.get("tasks", []))) as advance:
        report = verify(bundle, threads=args.threads, progress=advance, emulate=args.emulate)
    # checked after the files: a signature over a manifest the files do not match proves little
    from edgeus.runtime.signature import check_signature, trusted_keys

    try:
        signature = check_signature(bundle, trusted_keys([args.pubkey] if args.pubkey else None),
                                    args.require_signature)
    except SignatureError as exc:
        emit_json(args.json, {**report.to_dict(), "passed": False,
                              "signature": {"state": "failed", "key": None, "message": str(exc)}})
        raise
    print_conformance(report)
    if report.engine_status == "pending" and report.vectors:
        then = ("on a Mac, follow model/recipe.json to compile and check the Core ML package"
                if report.backend == "coreml" else "run 'edgeus finalize' on the device to build and check the engine")
        console.print(f"[yellow]engine pending: the portable fp32 ONNX was checked against the fp32 reference; "
                      f"{then}[/yellow]")
    for name in report.unlisted_files:
        console.print(f"[yellow]note[/yellow]: {name} is not listed in the manifest (not covered by its hashes)")
    marked_failed = manifest.get("passed") is False
    emit_json(args.json, {**report.to_dict(), "signature": signature.to_dict(), "marked_failed": marked_failed})
    if not report.passed:
        raise VerifyFailed(f"{bundle} does not verify: {report.first_problem()}")
    if marked_failed:  # intact, but not a bundle to deploy: say so, in the exit status too
        from edgeus.runtime.bundle import failed_gates

        if not args.allow_failed:
            raise VerifyFailed(f"{bundle}: intact, but marked failed: {failed_gates(manifest)} "
                               "(pass --allow-failed to accept it)")
        console.print(f"[yellow]marked failed: {failed_gates(manifest)}[/yellow]", highlight=False)
    console.print(f"[green]{bundle}: schema, {len(manifest['files'])} file hashes and {len(report.vectors)} "
                  f"conformance vectors verified" + (f" on {report.ran_on}" if report.emulated else "") + "[/green]")
    if signature.state == "verified":
        console.print(f"[green]{signature.message}[/green]", highlight=False)
    elif signature.state == "not checked":
        console.print(signature.message, style="yellow", highlight=False, markup=False)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from edgeus.bundle.signing import generate_key

    private, public = generate_key(args.key, force=args.force)
    print(f"private key {private} (keep it secret), public key {public} (give it to whoever verifies)")
    emit_json(args.json, {"private_key": str(private), "public_key": str(public)})
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from edgeus.bundle.signing import sign_bundle

    record = sign_bundle(args.bundle, args.key, force=args.force)
    print(f"signed {args.bundle}/manifest.json (sha256 {record['manifest_sha256'][:16]}…) with key "
          f"{record['public_key_sha256'][:16]}…; verify with: edgeus verify {args.bundle} --pubkey KEY.pub")
    emit_json(args.json, {"bundle": str(args.bundle), "signature": str(Path(args.bundle) / "manifest.sig"), **record})
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from edgeus.bundle.pack import pack

    archive, digest = pack(args.bundle, args.output, force=args.force)
    print(f"{digest}  {archive}")
    emit_json(args.json, {"archive": str(archive), "sha256": digest})
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    from edgeus.bundle.pack import unpack

    target = unpack(args.archive, args.output, force=args.force, max_bytes=int(args.max_size * 2**20))
    print(f"unpacked to {target}; check it with: edgeus verify {target}")
    emit_json(args.json, {"bundle": str(target)})
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edgeus.runtime.bundle import check_runnable, refuse_failed
    from edgeus.runtime.manifest import read_manifest
    from edgeus.runtime.sources import open_source

    # the bundle first: a bundle that cannot run here is the problem to report, whatever the input
    manifest = read_manifest(args.bundle)
    refuse_failed(Path(args.bundle), manifest, args.allow_failed)
    check_runnable(Path(args.bundle), manifest)
    source = open_source(args.input)
    if source.kind != "image":
        return _run_cine(args, source)
    import numpy as np

    from edgeus.runtime import load

    out = Path(args.output) if args.output else None
    if out and out.exists() and not args.force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    with load(args.bundle, threads=args.threads, allow_failed=args.allow_failed) as bundle:
        result = bundle.predict(args.input, args.dataset, args.task)
    if args.task == "segmentation":
        if out is None:
            raise EdgeusError("a segmentation result is a mask image: give -o MASK.png")
        import io

        from PIL import Image

        encoded = io.BytesIO()
        Image.fromarray(result).save(encoded, format=_image_format(out))
        write_atomic(out, encoded.getvalue())
        print(f"mask {result.shape[1]}x{result.shape[0]}, {int((result > 0).sum())} foreground pixels -> {out}")
        emit_json(args.json, {"task": "segmentation", "mask": str(out), "width": int(result.shape[1]),
                              "height": int(result.shape[0]), "foreground_pixels": int((result > 0).sum())})
        return 0
    payload = {"probability": [float(p) for p in result], "prediction": int(np.argmax(result))}
    text = json.dumps(payload)
    if out:
        write_atomic(out, text + "\n")
    if args.json:  # the same object, as JSON wherever --json asked (stdout alone with '-')
        emit_json(args.json, {"task": "classification", **payload})
    else:
        print(text)
    return 0


def _run_cine(args: argparse.Namespace, source) -> int:
    """A folder of frames, a video or a DICOM file: per-frame outputs in a folder, streaming figures."""
    from edgeus.cli.console import console, progress_bar
    from edgeus.runtime import load
    from edgeus.runtime.cine import STREAM_JSON, run_cine

    if not args.output:
        raise EdgeusError(f"{source.path} is a {source.kind} of frames: give -o FOLDER for the per-frame outputs")
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        raise OutputExistsError(f"{out} exists and is not empty; pass --force to write into it")
    # live (paced): the latency engine as built, one frame at a time per stream; offline: a throughput engine
    with load(args.bundle, threads=args.threads, streams=None if args.fps else "throughput",
              allow_failed=args.allow_failed) as bundle:
        min_fps = bundle.manifest.get("profile", {}).get("budgets", {}).get("min_fps")
        console.print(f"{source.kind} {source.path}: {source.count or '?'} frames"
                      + (f", recorded at {source.fps:g} fps" if source.fps else "")
                      + (f" ({source.detail})" if source.detail else "")
                      + (f"; paced at {args.fps:g} fps" if args.fps else ""), highlight=False)
        try:
            with progress_bar("frames", source.count) as advance:
                summary = run_cine(bundle, source, out, args.dataset, args.task, fps=args.fps, min_fps=min_fps,
                                   workers=bundle.streams + 2 if args.workers is None else args.workers, max_batch=args.batch, progress=lambda n: advance("frames", n))
        except EdgeusError as exc:
            written = _listed(out / STREAM_JSON)
            raise EdgeusError(f"{exc}; {written}") from None
    line = (f"{summary.frames_done} frames -> {out}: {summary.sustained_fps:.1f} fps sustained, latency p50 "
            f"{summary.latency_p50_ms:.1f} ms, p95 {summary.latency_p95_ms:.1f} ms")
    if args.fps:
        line += f", {summary.frames_dropped} dropped at {args.fps:g} fps"
    if summary.meets_min_fps is not None:
        line += f"; profile min {min_fps:g} fps: {'met' if summary.meets_min_fps else 'NOT met'}"
    console.print(line, highlight=False)
    emit_json(args.json, summary.to_dict())
    return 0


def _listed(stream_json: Path) -> str:
    """'N frame(s) already written are kept: a.png ... z.png' from a failed run's stream.json."""
    try:
        written = json.loads(stream_json.read_text())["written"]
    except (OSError, ValueError, KeyError):
        return "no frame was written"
    if not written:
        return "no frame was written"
    shown = ", ".join(written[:3]) + (f" ... {written[-1]}" if len(written) > 3 else "")
    return f"{len(written)} frame(s) already written are kept in {stream_json.parent}: {shown}"


def _image_format(path: Path) -> str:
    """Pillow's format name for a mask file name; one clear line for a name it cannot write."""
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get(path.suffix.lower())
    if fmt is None:
        raise EdgeusError(f"{path}: give the mask file an image extension (.png recommended)")
    return fmt


def cmd_compare(args: argparse.Namespace) -> int:
    from edgeus.bundle.compare import compare
    from edgeus.cli.console import console, print_compare_table

    rows, out = compare([Path(b) for b in args.bundles], Path(args.output) if args.output else None,
                        with_leaderboard=args.leaderboard, force=args.force)
    print_compare_table(rows)
    for r in rows:
        if r.verdict.startswith("FAIL:"):
            console.print(f"{r.bundle}: failed {r.verdict.removeprefix('FAIL:').strip()}", markup=False)
        elif "inconclusive" in r.verdict:
            console.print(f"{r.bundle}: {r.verdict.removeprefix('pass (').rstrip(')')}", markup=False)
    from dataclasses import asdict

    from edgeus.bundle.compare import synthetic_note

    note = synthetic_note(rows).strip()
    if note:
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    if out:
        console.print(f"compare.md, compare.csv, compare.json and pareto.png in {out}")
    emit_json(args.json, [asdict(r) for r in rows])
    return 0


def cmd_uusic25_predict(args: argparse.Namespace) -> int:
    from edgeus.cli.console import progress_bar
    from edgeus.uusic25.contract import predict, read_records

    total = len(read_records(Path(args.input_json)))
    with progress_bar("predicting", total) as advance:
        counts = predict(args.bundle, args.input_json, args.input_dir, args.output, mask_mapping=args.mask_mapping,
                         force=args.force, threads=args.threads, progress=advance, allow_failed=args.allow_failed)
    print(f"{counts['segmentation']} masks and {counts['classification']} classifications written to {args.output}")
    odd = counts["odd_records"]
    if odd:
        print(f"{len(odd)} record(s) prompted by their organ as the challenge's container does, differently from "
              f"their dataset's catalog row:")
        for line in odd[:10]:
            print(f"  {line}")
        if len(odd) > 10:
            print(f"  ... and {len(odd) - 10} more")
    emit_json(args.json, {"output": str(args.output), **counts})
    return 0


def cmd_uusic25_score(args: argparse.Namespace) -> int:
    from edgeus.cli.console import console, print_contract_score
    from edgeus.uusic25.contract import score

    result = score(args.pred, args.truth, args.truth_json)
    print_contract_score(result)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    emit_json(args.json, result.to_dict())
    return 0


def cmd_finalize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgeus.cli.console import console, status
    from edgeus.pipeline.coreml_finalize import refuse_finalize_off_macos
    from edgeus.pipeline.deferred import finalize
    from edgeus.runtime.manifest import read_manifest

    refuse_finalize_off_macos(Path(args.bundle))  # a Core ML bundle: one line, before any "building" status
    coreml = read_manifest(Path(args.bundle))["engine"]["backend"] == "coreml"
    with status(f"{'checking the Core ML package' if coreml else 'building the TensorRT engine'} of {args.bundle} here"):
        manifest = finalize(args.bundle, data=args.data, threads=args.threads, rebuild=args.rebuild)
    perf = manifest["performance"]
    emit_json(args.json, {"bundle": str(args.bundle), "passed": manifest["passed"], "engine": manifest["engine"],
                          "performance": perf, "verdicts": manifest.get("verdicts", [])})
    where = "checked with Core ML on {chip}" if coreml else "built on {gpu}"
    console.print(f"engine {manifest['engine']['model']} {where.format_map(manifest['engine']['device'])}; "
                  f"p50 {perf['p50_ms']:.2f} ms, p95 {perf['p95_ms']:.2f} ms; "
                  + ("all budgets met" if manifest["passed"] else "[red]budget gates failed[/red]"))
    if not manifest["passed"]:
        from edgeus.errors import BudgetFailed

        raise BudgetFailed(f"{args.bundle}: budget gates failed on this device (see report.md)")
    return 0


def add_ship_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finalize", help="on the target (a Core ML bundle: a Mac): build the engine, check, profile, re-validate")
    p.add_argument("bundle", help="bundle folder with an engine pending (from 'edgeus build' for a TensorRT profile; "
                                  "a Core ML bundle is finalized on macOS)")
    p.add_argument("--data", help="evaluation data to re-validate on the device (UUSIC25 folder or phantom root)")
    p.add_argument("--threads", type=int)
    p.add_argument("--rebuild", action="store_true", help="build again even if the engine is ready")
    add_json_option(p, "also write the finalized engine, performance and verdicts as JSON to FILE ('-': standard "
                       "output, alone)")
    p.set_defaults(handler=cmd_finalize, library_log="finalize")

    p = sub.add_parser("verify", help="check a bundle: schema, file hashes, conformance vectors on this machine")
    p.add_argument("bundle", help="bundle folder")
    p.add_argument("--threads", type=int)
    add_json_option(p, "also write the verification report as JSON to FILE ('-': standard output)")
    p.add_argument("--pubkey", help="check the bundle's Ed25519 signature (manifest.sig) against this public key "
                                    "(default: the keys in EDGEUS_TRUSTED_KEYS; without any, a signature is reported "
                                    "NOT checked)")
    p.add_argument("--require-signature", action="store_true",
                   help="fail unless the bundle is signed and the signature verified against a trusted key")
    p.add_argument("--allow-failed", action="store_true",
                   help="verify a bundle marked failed (its budget gates blocked) without failing for that")
    p.add_argument("--emulate", action="store_true",
                   help="run the vectors on the profile's CPU core (hardware.cpu_model) under QEMU user-mode: an "
                        "aarch64 bundle checked on an x86 machine (needs qemu-user and, once, debootstrap as root)")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("keygen", help="a new Ed25519 signing key pair (KEY and KEY.pub)")
    p.add_argument("key", help="private key file to write (the public key goes to KEY.pub)")
    add_json_option(p, "also write the two key paths as JSON to FILE ('-': standard output, alone)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_keygen)

    p = sub.add_parser("sign", help="sign a bundle's manifest with an Ed25519 key (writes manifest.sig)")
    p.add_argument("bundle")
    p.add_argument("--key", required=True, help="private key (PEM) from 'edgeus keygen'")
    add_json_option(p, "also write the signature record as JSON to FILE ('-': standard output, alone)")
    p.add_argument("--force", action="store_true", help="replace a signature made with another key")
    p.set_defaults(handler=cmd_sign)

    p = sub.add_parser("pack", help="a byte-for-byte reproducible .tar.gz of a bundle")
    p.add_argument("bundle")
    p.add_argument("-o", "--output", help="archive path (default: BUNDLE.tar.gz)")
    add_json_option(p, "also write the archive's path and sha256 as JSON to FILE ('-': standard output, alone)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(handler=cmd_pack)

    p = sub.add_parser("unpack", help="extract a packed bundle safely (no absolute paths, '..', links, devices)")
    p.add_argument("archive")
    add_json_option(p, "also write the unpacked bundle's path as JSON to FILE ('-': standard output, alone)")
    p.add_argument("-o", "--output", default=".", help="folder to extract into (default: here)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--max-size", type=float, default=8192, metavar="MiB",
                   help="refuse archives that unpack to more than this (default: 8192 MiB)")
    p.set_defaults(handler=cmd_unpack)

    p = sub.add_parser("run", help="predict an image, a folder of frames, a video or a DICOM file with a bundle "
                                   "(vendor runtime, no torch)")
    p.add_argument("bundle")
    p.add_argument("input", help="an image; or a cine: a folder of frames, a video (.mp4 .avi .mkv ...) or a DICOM "
                                 "file (single or multi-frame)")
    p.add_argument("--dataset", required=True, help="dataset name as in the task catalog, e.g. Breast")
    p.add_argument("--task", choices=["segmentation", "classification"], default="segmentation")
    p.add_argument("-o", "--output", help="image: mask PNG (segmentation) or JSON file (classification); cine: a folder "
                                          "for the per-frame masks / probabilities.jsonl and stream.json")
    p.add_argument("--fps", type=float, help="cine: pace the frames as a live scanner at this rate; frames the "
                                             "pipeline cannot take in time are dropped and counted")
    p.add_argument("--workers", type=int, help="cine: frames in flight (decode, infer, postprocess overlap; default: "
                                               "the engine's streams + 2)")
    p.add_argument("--batch", type=int, default=1, help="cine, unpaced: micro-batch this many frames per inference "
                                                            "(1-64)")
    add_json_option(p, "also write the result (an image's mask or probabilities; a cine's stream figures) as JSON to "
                       "FILE ('-': standard output, alone)")
    p.add_argument("--threads", type=int)
    p.add_argument("--force", action="store_true")
    p.add_argument("--allow-failed", action="store_true",
                   help="run a bundle marked failed (its budget gates blocked at build time)")
    p.set_defaults(handler=cmd_run, supervised_outputs=("output",))

    p = sub.add_parser("compare", help="table and Pareto plot of several bundles")
    p.add_argument("bundles", nargs="+", help="bundle folders")
    p.add_argument("-o", "--output", help="folder for compare.md, compare.csv, compare.json, pareto.png")
    p.add_argument("--leaderboard", action="store_true", help="add the UUSIC25 published entries as reference points")
    p.add_argument("--force", action="store_true")
    add_json_option(p, "also write the rows as JSON to FILE ('-': standard output, alone)")
    p.set_defaults(handler=cmd_compare)

    p_u = sub.add_parser("uusic25", help="the UUSIC25 challenge contract: predict like its container, score officially")
    u_sub = p_u.add_subparsers(dest="action", metavar="ACTION")
    u_sub.required = True
    p = u_sub.add_parser("predict", help="write masks and classification.json exactly as the challenge container")
    p.add_argument("bundle")
    p.add_argument("--input-json", required=True, help="the challenge's JSON record list")
    p.add_argument("--input-dir", required=True, help="folder the records' img_path_relative are relative to")
    p.add_argument("-o", "--output", required=True, help="output folder (the container's /output)")
    p.add_argument("--mask-mapping", choices=["stretch", "uncrop"],
                   help="override the bundle's mask mapping ('stretch' is the baseline container's)")
    add_json_option(p, "also write the counts as JSON to FILE ('-': standard output, alone)")
    p.add_argument("--threads", type=int)
    p.add_argument("--force", action="store_true")
    p.add_argument("--allow-failed", action="store_true",
                   help="run a bundle marked failed (its budget gates blocked at build time)")
    p.set_defaults(handler=cmd_uusic25_predict, supervised_outputs=("output",))
    p = u_sub.add_parser("score", help="official metrics and final-score components of a predict output")
    p.add_argument("--pred", required=True, help="output folder of 'uusic25 predict' (or a real container)")
    p.add_argument("--truth", required=True, help="evaluation folder with ground truth (records.json with labels)")
    p.add_argument("--truth-json", help="record list with ground truth, if not TRUTH/records.json")
    add_json_option(p, "also write the scores as JSON to FILE ('-': standard output)")
    p.set_defaults(handler=cmd_uusic25_score)
