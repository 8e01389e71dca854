"""``edgeus farm status``: every alive device, the identity it reports and the profiles it serves."""

from __future__ import annotations

from edgeus.farm.cluster import DEVICE_SLOT, connect


def _identity_on_node() -> dict:
    from edgeus.util.device_identity import detect_identity

    return detect_identity()


def farm_status(address: str, timeout_s: float = 30.0) -> list[dict]:
    ray = connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(_identity_on_node)
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        profiles = sorted(k.split(":", 1)[1] for k in resources if k.startswith("edgeus-profile:"))
        entry = {"node_id": node["NodeID"], "address": node.get("NodeManagerAddress"), "profiles": profiles,
                 "device": DEVICE_SLOT in resources, "identity": None}
        if entry["device"]:  # ask the node itself: the identity its agent was started with
            ref = remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote()
            ready, _ = ray.wait([ref], timeout=timeout_s)
            entry["identity"] = ray.get(ready[0]) if ready else None
        nodes.append(entry)
    return nodes
