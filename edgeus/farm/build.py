"""Farmed builds: each target's build runs as a Ray task on a device that serves its profile, and its bundle
comes back to the caller's ``-o`` folder exactly as a local build writes it.

On the device the task runs the ordinary build (``pipeline/flow.build``) into a private temporary folder,
with ``on_device`` set so performance verdicts say "measured on <device identity>"; the bundle travels back
as the reproducible archive ``edgeus pack`` writes (through Ray's object store) and is unpacked atomically
here, so a target either arrives whole or not at all.

Faults: a device that dies mid-task makes Ray retry the task on another device that serves the profile
(``max_retries``); when none is left, the target is failed with the reason while the others finish. Ctrl-C
cancels every farm task.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgeus.farm.cluster import DEVICE_SLOT, FarmError, connect, devices_serving, profile_resource

POLL_S = 2.0


@dataclass
class FarmOutcome:
    target: str
    state: str = "pending"          # done | failed
    bundle: str | None = None       # the bundle folder in the caller's -o
    passed: bool | None = None      # every gate passed (False: a gate blocked; the bundle is still written)
    device: dict = field(default_factory=dict)
    reason: str = ""
    attempts: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def build_on_device(target: str, options) -> dict:
    """Runs on the device: the ordinary build, packed. ``options``: the caller's BuildOptions."""
    from edgeus.bundle.pack import pack
    from edgeus.contracts.profiles import load_profile
    from edgeus.farm.identity import mismatches
    from edgeus.pipeline.flow import build
    from edgeus.util.device_identity import describe, detect_identity

    identity = detect_identity()
    profile = load_profile(target)
    reasons = mismatches(profile, identity)
    if reasons:  # the node advertised the profile but its identity says otherwise: refuse, never measure wrongly
        raise FarmError(f"{describe(identity)} cannot serve {target}: {'; '.join(reasons)}")
    work = Path(tempfile.mkdtemp(prefix="edgeus-farm-"))
    try:
        result = build(profile, replace(options, out=work / "out", on_device=True, force=True))
        archive, digest = pack(result.run_dir, work / "bundle.tar.gz")
        return {"target": target, "device": identity, "bundle": result.run_dir.name, "passed": result.passed,
                "archive": archive.read_bytes(), "sha256": digest, "stopped_after": result.stopped_after}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def farm_build(targets: list[str], options, address: str, *, max_retries: int = 2,
               on_event: Callable[[str, str], None] = lambda target, text: None) -> list[FarmOutcome]:
    """Build every target on the farm at ``address``; bundles land in ``options.out``."""
    ray = connect(address)
    remote = ray.remote(build_on_device)
    outcomes = {t: FarmOutcome(t) for t in targets}
    pending: dict = {}
    for target in targets:
        if not devices_serving(ray, target):
            outcomes[target].state, outcomes[target].reason = "failed", "no device in the farm serves this profile"
            continue
        # num_cpus=0: the device slot, not Ray's CPU count, decides what runs where (one build per device)
        ref = remote.options(resources={profile_resource(target): 1, DEVICE_SLOT: 1}, num_cpus=0,
                             max_retries=max_retries, retry_exceptions=False, name=f"edgeus-build:{target}").remote(
            target, options)
        pending[ref] = target
        on_event(target, "submitted")
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                target = pending.pop(ref)
                _collect(ray, ref, outcomes[target], options, on_event)
            for ref, target in list(pending.items()):
                if not devices_serving(ray, target):  # every device of this profile is gone: nothing to retry on
                    ray.cancel(ref, force=True)
                    pending.pop(ref)
                    outcomes[target].state = "failed"
                    outcomes[target].reason = "the device building it was lost and no other device serves this profile"
                    on_event(target, outcomes[target].reason)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return [outcomes[t] for t in targets]


def _collect(ray, ref, outcome: FarmOutcome, options, on_event) -> None:
    from edgeus.bundle.pack import unpack

    try:
        result = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the build itself raised on the device: its own message
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        outcome.state, outcome.reason = "failed", str(cause).strip().splitlines()[-1][:300]
        on_event(outcome.target, f"failed: {outcome.reason}")
        return
    except (ray.exceptions.RayError, OSError) as exc:  # the device died and retries ran out
        outcome.state = "failed"
        outcome.reason = f"the device was lost ({type(exc).__name__}) and the retries ran out"
        on_event(outcome.target, outcome.reason)
        return
    with tempfile.TemporaryDirectory(dir=_existing(options.out)) as tmp:
        archive = Path(tmp) / "bundle.tar.gz"
        archive.write_bytes(result["archive"])
        folder = unpack(archive, options.out, force=options.force)
    outcome.state, outcome.bundle, outcome.passed = "done", str(folder), result["passed"]
    outcome.device = result["device"]
    on_event(outcome.target, f"bundle {folder.name} from {outcome.device.get('name')}")


def _existing(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_devices(address: str, profiles: list[str], timeout_s: float = 60.0) -> None:
    """Block until every profile has a device (agents take a few seconds to join)."""
    ray = connect(address)
    end = time.monotonic() + timeout_s
    while True:
        missing = [p for p in profiles if not devices_serving(ray, p)]
        if not missing:
            return
        if time.monotonic() > end:
            raise FarmError(f"no device joined for {', '.join(missing)} within {timeout_s:.0f} s")
        time.sleep(0.5)
