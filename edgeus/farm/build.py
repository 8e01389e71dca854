"""Farmed builds: each target's build runs as a Ray task on a device that serves its profile, and its bundle
comes back to the caller's ``-o`` folder exactly as a local build writes it.

First one task on any worker runs the device-independent stages once for every target, export and quantize
(float-scope searches included: ``pipeline/flow.prepare``), and ships the stage folders through Ray's object
store; each device adds them to its stage cache under the same content keys, so its build starts at compile.
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
    reused: list[str] = field(default_factory=list)  # stages this device found in the shared (prepared) cache
    attempts: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


PREPARED_STAGES = ("export", "quantize", "scope")


def prepare_on_worker(targets: list[str], options, profiles: dict | None = None) -> dict:
    """Runs once, on any worker: export and quantize every target's candidate plans into one stage cache,
    returned as an archive of the stage folders (``pipeline/cache.pack_stages``)."""
    from edgeus.contracts.profiles import load_profile
    from edgeus.pipeline.cache import pack_stages
    from edgeus.pipeline.flow import CACHE_DIR, prepare
    from edgeus.util.logs import capture_library_logs

    work = Path(tempfile.mkdtemp(prefix="edgeus-farm-prepare-"))
    try:
        opts = replace(options, out=work / "out", force=True)
        with capture_library_logs(work / "prepare.log", False):
            for target in targets:
                prepare((profiles or {}).get(target) or load_profile(target), opts)
        archive, names = pack_stages(opts.out / CACHE_DIR, PREPARED_STAGES)
        return {"archive": archive, "stages": names}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_on_device(target: str, options, prepared: dict | None = None, profile=None) -> dict:
    """Runs on the device: the ordinary build, packed. ``options``: the caller's BuildOptions; ``prepared``:
    the stages ``prepare_on_worker`` ran (None: this device runs them itself); ``profile``: the caller's
    DeviceProfile (its ``--profiles-dir`` ones need not exist on the device), else loaded by name here."""
    from edgeus.bundle.pack import pack
    from edgeus.contracts.profiles import load_profile
    from edgeus.farm.identity import mismatches
    from edgeus.pipeline.cache import unpack_stages
    from edgeus.pipeline.flow import CACHE_DIR, build
    from edgeus.util.device_identity import describe, detect_identity

    identity = detect_identity()
    profile = profile or load_profile(target)
    reasons = mismatches(profile, identity)
    if reasons:  # the node advertised the profile but its identity says otherwise: refuse, never measure wrongly
        raise FarmError(f"{describe(identity)} cannot serve {target}: {'; '.join(reasons)}")
    work = Path(tempfile.mkdtemp(prefix="edgeus-farm-"))
    try:
        out = work / "out"
        if prepared:
            unpack_stages(prepared["archive"], out / CACHE_DIR)
        result = build(profile, replace(options, out=out, on_device=True, force=True))
        stages = list(result.stages) + [s for run in (result.plans.runs if result.plans else []) for s in run.stages]
        reused = sorted({s.name for s in stages if s.cached and prepared and s.path.name in prepared["stages"]})
        archive, digest = pack(result.run_dir, work / "bundle.tar.gz")
        return {"target": target, "device": identity, "bundle": result.run_dir.name, "passed": result.passed,
                "archive": archive.read_bytes(), "sha256": digest, "stopped_after": result.stopped_after,
                "reused": reused}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def farm_build(targets: list[str], options, address: str, *, max_retries: int = 2,
               on_event: Callable[[str, str], None] = lambda target, text: None,
               profiles: dict | None = None) -> list[FarmOutcome]:
    """Build every target on the farm at ``address``; bundles land in ``options.out``. ``profiles``: name ->
    DeviceProfile as the caller loaded them (its ``--profiles-dir``), sent with the tasks."""
    profiles = profiles or {}
    ray = connect(address)
    remote = ray.remote(build_on_device)
    outcomes = {t: FarmOutcome(t) for t in targets}
    pending: dict = {}
    served = []
    for target in targets:
        if devices_serving(ray, target):
            served.append(target)
        else:
            outcomes[target].state, outcomes[target].reason = "failed", "no device in the farm serves this profile"
    # export and quantize once, on whichever worker has a CPU free; the builds wait for it (a task argument).
    # A farm whose nodes all advertise 0 CPUs could never run it: then each device runs them itself.
    prepared = None
    if served and ray.cluster_resources().get("CPU", 0) >= 1:
        prepared = ray.remote(prepare_on_worker).options(num_cpus=1, max_retries=max_retries, retry_exceptions=False,
                                                         name="edgeus-prepare").remote(
            served, options, {t: profiles[t] for t in served if t in profiles})
        on_event("export + quantize", "submitted (once, for " + ", ".join(served) + ")")
    elif served:
        on_event("export + quantize", "no node offers a CPU for them: each device runs its own")
    for target in served:
        # num_cpus=0: the device slot, not Ray's CPU count, decides what runs where (one build per device)
        ref = remote.options(resources={profile_resource(target): 1, DEVICE_SLOT: 1}, num_cpus=0,
                             max_retries=max_retries, retry_exceptions=False, name=f"edgeus-build:{target}").remote(
            target, options, prepared, profiles.get(target))
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
        for ref in [*pending, *([prepared] if prepared is not None else [])]:
            ray.cancel(ref, force=True)
        raise
    if prepared is not None:
        _keep_prepared(ray, prepared, options)
    return [outcomes[t] for t in targets]


def _keep_prepared(ray, prepared, options) -> None:
    """The prepared stages also go to the caller's ``-o`` cache, as a local build leaves its stages there."""
    from edgeus.pipeline.cache import unpack_stages
    from edgeus.pipeline.flow import CACHE_DIR

    try:
        stages = ray.get(prepared, timeout=60)
    except Exception:  # noqa: BLE001 -- the targets already carry the failure; the local cache is a convenience
        return
    unpack_stages(stages["archive"], _existing(options.out) / CACHE_DIR)


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
    outcome.device, outcome.reused = result["device"], result["reused"]
    reused = f" ({', '.join(outcome.reused)} from the shared stages)" if outcome.reused else ""
    on_event(outcome.target, f"bundle {folder.name} from {outcome.device.get('name')}{reused}")


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
