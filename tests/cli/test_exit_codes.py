"""Distinct exit codes: 0 success, 1 user error, 2 a gate blocked, 3 verification failed, 64 usage error,
70 internal error, 130 interrupted."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error

from edgeus.cli import EXIT_USAGE, main
from edgeus.errors import BudgetFailed, EdgeusError


def test_usage_errors_are_not_gate_failures(capsys):
    with pytest.raises(SystemExit) as info:
        main(["build"])  # --target missing
    assert info.value.code == EXIT_USAGE == 64
    assert "--target" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 64


def test_user_error_and_gate_codes(run_cli, tmp_path):
    code, _, err = run_cli("profiles", "show", "no-such-profile")
    assert_one_line_error(code, err, "unknown profile")
    assert code == 1
    assert EdgeusError.exit_code == 1 and BudgetFailed.exit_code == 2


def test_json_option_is_the_same_everywhere(run_cli, tmp_path):
    """``--json`` alone or ``--json -``: standard output; ``--json FILE``: a file (written atomically)."""
    import json

    code, out, _ = run_cli("profiles", "show", "cpu-x86-scanner", "--json")
    assert code == 0 and json.loads(out)["name"] == "cpu-x86-scanner"
    code, out, _ = run_cli("profiles", "list", "--json", "-")
    assert code == 0 and len(json.loads(out)) >= 6
    code, out, _ = run_cli("models", "list", "--json", "-")
    assert code == 0 and "uniusnet-small" in {m["name"] for m in json.loads(out)}
    code, _, _ = run_cli("profiles", "show", "cpu-x86-scanner", "--json", tmp_path / "p.json")
    assert code == 0 and json.loads((tmp_path / "p.json").read_text())["name"] == "cpu-x86-scanner"


def test_running_out_of_memory_is_one_line():
    from edgeus.errors import user_error

    error = user_error(MemoryError("Unable to allocate 56.1 GiB for an array with shape (100000, 3, 224, 224)"))
    assert error is not None and str(error).startswith("out of memory: Unable to allocate 56.1 GiB")


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("0 success", "1 user error", "2 a budget gate blocked", "3 a bundle does not verify",
                   "64 usage error", "70 internal error", "130 interrupted"):
        assert needle in text, needle


def test_numeric_ranges_are_usage_errors_and_a_bug_is_one_line_exit_70(run_cli, monkeypatch):
    code, _, err = run_cli("verify", "nowhere", "--threads", "0")
    assert_one_line_error(code, err, "--threads must be at least 1")
    assert code == 64
    import edgeus.cli.ship as ship

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(ship, "cmd_verify", broken)
    code, _, err = run_cli("verify", "nowhere")
    assert code == 70 and "edgeus: internal error: KeyError: 'a bug'" in err and "report it" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_json_to_stdout_is_the_only_thing_on_stdout(run_cli, tmp_path):
    """``--json -``: the score table and its notes go to stderr, stdout parses as one JSON document (it used to
    hold the table too). ``--json FOLDER`` is not a file name (a JSON file is never a folder): the folder stays
    the command's argument."""
    import json
    import shutil

    from edgeus.cli.args import json_option_before_a_folder
    from edgeus.data.layout import RECORDS_FILE, mask_path_for
    from edgeus.data.phantom import generate_phantom

    root = tmp_path / "ph"
    generate_phantom(root, per_task=2, seed=1, splits=("val",))
    truth, pred = root / "val", tmp_path / "pred"
    classification = {}
    for rec in json.loads((truth / RECORDS_FILE).read_text()):
        if rec["task"] == "segmentation":
            target = pred / mask_path_for(rec["img_path_relative"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(truth / rec["mask_path_relative"], target)
        else:
            n = 4 if rec["dataset_name"] == "Breast_luminal" else 2
            probs = [0.9 if k == rec["class_label_index"] else 0.1 / (n - 1) for k in range(n)]
            classification[rec["img_path_relative"]] = {"probability": probs, "prediction": rec["class_label_index"]}
    (pred / "classification.json").write_text(json.dumps(classification))
    code, out, err = run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--json", "-")
    assert code == 0, err
    assert json.loads(out)["components"]["mean_dsc"] > 0.99 and "seg_score" in err  # the table went to stderr
    assert json_option_before_a_folder(["verify", "--json", str(root), "--threads", "2"]) == \
        ["verify", "--json", "-", str(root), "--threads", "2"]
    assert json_option_before_a_folder(["verify", "B", "--json", "out.json"]) == ["verify", "B", "--json", "out.json"]
