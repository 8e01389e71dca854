"""The plans chart and the peer sentence: the peers timed in the same loop are drawn and worded as measured."""

from __future__ import annotations

import io

from edgeus.report.plots import plans_chart
from edgeus.report.render import peer_sentence

PLANS = [{"plan": "int8-auto", "state": "chosen", "median_ms": 9.8, "worst_drop": 0.004, "reason": ""},
         {"plan": "fp32", "state": "pass", "median_ms": 12.4, "worst_drop": 0.0, "reason": ""},
         {"plan": "ort-int8", "state": "rejected", "median_ms": 22.1, "worst_drop": 0.08, "reason": "slower than fp32"}]


def _axes_of(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).size


def test_the_peers_are_drawn_as_vertical_lines_at_their_latency(monkeypatch):
    import matplotlib.axes

    drawn = []
    original = matplotlib.axes.Axes.axvline
    monkeypatch.setattr(matplotlib.axes.Axes, "axvline",
                        lambda self, x=0, *a, **k: drawn.append(x) or original(self, x, *a, **k))
    png = plans_chart(PLANS, 0.02, {"torch eager": {"median_ms": 20.4}, "onnxruntime fp32": {"median_ms": 15.8}})
    assert png.startswith(b"\x89PNG") and _axes_of(png)[0] > 0
    assert sorted(drawn) == [15.8, 20.4]
    assert plans_chart(PLANS, None, None).startswith(b"\x89PNG")  # no peers: the chart as before


def test_the_peer_sentence_says_faster_as_fast_or_slower():
    def shipped(ratio):
        return {"plan": "int8", "vs_peers": {"onnxruntime fp32": ratio}}

    assert peer_sentence(shipped(1.6), "onnxruntime fp32").endswith("int8 runs 1.60x faster")
    assert peer_sentence(shipped(1.002), "onnxruntime fp32").endswith("int8 runs as fast")
    assert peer_sentence(shipped(0.8), "onnxruntime fp32").endswith("int8 runs 1.25x slower")
    assert "baseline a user would run" in peer_sentence({"plan": "int8"}, "onnxruntime fp32")


def test_delegation_lines_name_the_share_on_xnnpack_and_the_portable_operators():
    from edgeus.report.render import delegation_lines

    rows = [{"plan": "int8", "delegation": {"delegated_subgraphs": 27, "delegated_nodes": 800, "portable_nodes": 200,
                                            "coverage": 0.8, "portable_by_operator": {
                                                "aten.native_layer_norm.default": 120, "aten.expand_copy.default": 80}}},
            {"plan": "ort-fp32", "delegation": None}]
    assert delegation_lines(rows) == [
        "int8 80% of 1000 nodes on XNNPACK (27 subgraphs), portable kernels: aten.native_layer_norm.default x120, "
        "aten.expand_copy.default x80"]
    assert delegation_lines([{"plan": "fp32"}]) == []  # other runtimes have none
