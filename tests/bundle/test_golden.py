"""Golden vectors for ports: shipped in every bundle, checked by verify, and strict enough to catch the
mistakes a C port makes (an off-by-one tap, edge-aligned instead of corner-aligned, the wrong mask mapping)."""

from __future__ import annotations

import json
import shutil

import numpy as np

from edgeus.bundle.golden import FRAME_SIZES, GOLDEN, GOLDEN_INDEX, check_golden
from edgeus.bundle.verify import verify
from edgeus.contracts.preprocess import Preprocessing, mask_to_original


def test_every_bundle_ships_golden_vectors_for_each_size_and_task(x86_bundle):
    index = json.loads((x86_bundle / GOLDEN_INDEX).read_text())
    kinds = [c["kind"] for c in index["cases"]]
    assert kinds.count("preprocess") == len(FRAME_SIZES) >= 5
    assert {tuple(c["size"]) for c in index["cases"] if c["kind"] == "preprocess"} == set(FRAME_SIZES)
    assert {c["mapping"] for c in index["cases"] if c["kind"] == "mask"} == {"uncrop", "stretch"}
    assert kinds.count("task") == 10  # one real image end to end per task row
    manifest = json.loads((x86_bundle / "manifest.json").read_text())
    assert GOLDEN in manifest["files"] and manifest["conformance"]["golden"] == GOLDEN
    assert check_golden(x86_bundle) == []


def test_a_port_with_an_edge_aligned_resize_or_the_wrong_mapping_fails(x86_bundle):
    pre = Preprocessing()
    with np.load(x86_bundle / GOLDEN) as data:
        image, tensor = data["pre/320x240/image"], data["pre/320x240/tensor"]
        logits, mask = data["mask/320x240/logits"], data["mask/320x240/uncrop"]
    # an edge-aligned (half-pixel) resize, what most libraries do by default
    from PIL import Image

    scaled = Image.fromarray(image).resize((round(320 * 224 / 240), 224), Image.BILINEAR)
    left = scaled.width // 2 - 112
    naive = np.asarray(scaled, dtype=np.float32)[:, left:left + 224].transpose(2, 0, 1) / 255
    assert np.max(np.abs(naive - tensor)) > 1e-2
    assert (x86_bundle / GOLDEN).stat().st_size < 5 * 2**20  # shipped in every bundle: kept small
    assert not np.array_equal(mask_to_original(logits, 320, 240, "stretch", pre), mask)


def test_verify_fails_a_bundle_whose_golden_vectors_do_not_hold(x86_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(x86_bundle, copy)
    with np.load(copy / GOLDEN) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["pre/257x193/tensor"] = arrays["pre/257x193/tensor"] + 1e-4
    np.savez_compressed(copy / GOLDEN, **arrays)
    assert check_golden(copy) == ["golden preprocess [257, 193]: output differs"]
    report = verify(copy)
    assert not report.passed  # the file hash no longer matches either: never trusted silently
