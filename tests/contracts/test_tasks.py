import numpy as np
import pytest

from edgeus.contracts.tasks import load_catalog
from edgeus.errors import DataError


def test_catalog_has_the_ten_uusic25_rows():
    c = load_catalog("uusic25")
    assert len(c.tasks) == 10
    assert c.datasets == ["Breast", "Breast_luminal", "Thyroid", "Kidney", "Fetal_Head", "Cardiac", "Liver", "Appendix"]
    groups = c.score_groups()
    assert len(groups) == 9  # 5 seg + 4 cls scored in the final test
    assert groups["Breast_all/segmentation"] == ["Breast/segmentation", "Breast_luminal/segmentation"]
    assert c.score_key_of("Breast_luminal/segmentation") == "Breast_all/segmentation"
    assert c.score_key_of("Thyroid/segmentation") == "Thyroid/segmentation"


@pytest.mark.parametrize(
    ("dataset", "kind", "position", "nature", "output"),
    [
        ("Breast", "segmentation", 0, 0, "seg_logits"),
        ("Breast", "classification", 0, 0, "cls2_logits"),
        ("Breast_luminal", "classification", 0, 0, "cls4_logits"),
        ("Thyroid", "segmentation", 2, 0, "seg_logits"),
        ("Kidney", "segmentation", 4, 1, "seg_logits"),
        ("Fetal_Head", "segmentation", 3, 1, "seg_logits"),
        ("Cardiac", "segmentation", 1, 1, "seg_logits"),
        ("Liver", "classification", 6, 1, "cls2_logits"),
        ("Appendix", "classification", 5, 1, "cls2_logits"),
    ],
)
def test_prompt_vectors_follow_the_baseline_layout(dataset, kind, position, nature, output):
    c = load_catalog()
    t = c.task(dataset, kind)
    assert t.output == output
    p = c.prompt(t)
    assert p.shape == (15,) and p.dtype == np.float32 and p.sum() == 4
    assert np.argmax(p[:8]) == position
    assert np.argmax(p[8:10]) == (0 if kind == "segmentation" else 1)
    assert np.argmax(p[10:13]) == 0  # "whole" type prompt at inference
    assert np.argmax(p[13:15]) == nature


def test_unknown_task_is_a_data_error():
    with pytest.raises(DataError, match="Liver/segmentation"):
        load_catalog().task("Liver", "segmentation")
    with pytest.raises(DataError, match="unknown dataset"):
        load_catalog().tasks_of("Spleen")
