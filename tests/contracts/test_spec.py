"""A model spec's preprocessing fits its image input: the size defaults to what the input takes."""

from __future__ import annotations

import pytest
from toymodels import SPEC_TOML

from edgeus.contracts.spec import load_spec
from edgeus.errors import SpecError


def test_without_a_size_images_take_the_image_inputs_size(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(SPEC_TOML)  # 32 x 32 image input, no [preprocessing]
    pre = load_spec(path).preprocessing_spec()
    assert pre.size == 32 and pre.resize == "shorter_side_corner_aligned_linear"  # the rest: the defaults


def test_a_size_the_image_input_cannot_take_is_refused(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(SPEC_TOML + "\n[preprocessing]\nsize = 224\n")
    with pytest.raises(SpecError, match="preprocessing size 224 does not fit the image input 'image' \\(32 x 32\\)"):
        load_spec(path)
