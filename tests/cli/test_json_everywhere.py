"""Every command that reports takes ``--json [FILE|-]``; with ``-`` standard output holds one JSON document and
nothing else (the tables and notes go to stderr). One case per leaf command of the real parser: a command
added without a case here fails ``test_every_command_has_a_case``. Where the package has a schema for a
command's document (build, verify, compare, profile, validate), the document conforms to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_bundle

from edgeus.cli import build_parser
from edgeus.cli.schemas import COMMANDS as WITH_SCHEMA
from edgeus.cli.schemas import output_problems

# A daemon: it joins a Ray farm and serves builds until stopped; there is no report to write.
NOT_REPORTING = {"farm agent": "a long-running device agent (serves until stopped), not a report"}


def leaf_commands() -> set[str]:
    """'profiles list', 'build', ... from the parser itself."""
    import argparse

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            actions = next((a.choices for a in parser._actions if a.dest == "action" and a.choices), None)
            yield from ([" ".join((*prefix, c)) for c in actions] if actions else [" ".join(prefix)])
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, (*prefix, name))

    return set(walk(build_parser(), ()))


def _prepare(*argv) -> None:
    """Run a command that makes a case's input, its console kept out of the output the case checks."""
    import contextlib
    import io

    from edgeus.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = main([str(a) for a in argv])
    assert code == 0, printed.getvalue()


class Workspace:
    """Inputs the cases share, made once per module and only when a case asks for them."""

    def __init__(self, root: Path, request) -> None:
        self.root, self.request = root, request

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)

    @property
    def spec(self) -> Path:
        path = self.root / "toy.spec.toml"
        if not path.exists():
            from toymodels import SPEC_TOML

            path.write_text(SPEC_TOML)
        return path

    @property
    def toy_onnx(self) -> Path:
        path = self.root / "toy.onnx"
        if not path.exists():
            _prepare("export", "--model", "toymodels:prompted_net", "--spec", self.spec, "-o", path)
        return path

    @property
    def toy_int8(self) -> Path:
        path = self.root / "toy-int8"
        if not path.exists():
            _prepare("quantize", self.toy_onnx, "--target", "cpu-x86-scanner", "-o", path, "--spec", self.spec,
                     "--data", self.fixture("small_phantom"), "--per-task", "2")
        return path

    @property
    def records(self) -> Path:
        """Two records of the small phantom's val split: one segmentation, one classification."""
        path = self.root / "two-records.json"
        if not path.exists():
            val = self.fixture("small_phantom") / "val"
            records = json.loads((val / "records.json").read_text())
            pick = [next(r for r in records if r["task"] == kind) for kind in ("segmentation", "classification")]
            path.write_text(json.dumps(pick))
        return path

    @property
    def predicted(self) -> Path:
        path = self.root / "predicted"
        if not path.exists():
            val = self.fixture("small_phantom") / "val"
            _prepare("uusic25", "predict", self.fixture("x86_bundle"), "--input-json", self.records, "--input-dir", val,
                     "-o", path)
        return path

    @property
    def key(self) -> Path:
        path = self.root / "signing.key"
        if not path.exists():
            from edgeus.bundle.signing import generate_key

            generate_key(path)
        return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, request) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("json-everywhere"), request)


def _image(ws: Workspace) -> Path:
    val = ws.fixture("small_phantom") / "val"
    record = next(r for r in json.loads((val / "records.json").read_text()) if r["task"] == "classification")
    return val / record["img_path_relative"]


def _seeded_cache(ws: Workspace, name: str) -> Path:
    from conftest import seed_stages

    out = ws.root / name
    seed_stages(ws.fixture("x86_bundle"), out, kinds=("export",))
    return out


def _farm_status(ws: Workspace, tmp: Path):
    pytest.importorskip("ray")
    from farm_cluster import Farm

    farm = Farm(tmp, agents=())  # a real head on loopback; no device needed to report the nodes
    ws.request.addfinalizer(farm.stop)
    return ["farm", "status", "--address", farm.address]


def _finalize(ws: Workspace, tmp: Path):
    pytest.importorskip("tensorrt", reason="finalize builds a TensorRT engine: needs an NVIDIA GPU and TensorRT")
    return ["finalize", str(copy_bundle(ws.fixture("jetson_bundle"), tmp)), "--threads", "2"]


def _pack(ws: Workspace, tmp: Path) -> Path:
    from edgeus.bundle.pack import pack

    archive, _ = pack(ws.fixture("x86_bundle"), tmp / "bundle.tar.gz")
    return archive


# command -> (argv builder (workspace, a fresh folder) -> argv, exit codes a good run may end with, a key the
# document must hold). 2 is allowed where a toy model's gates may block: the JSON is written before the exit.
CASES = {
    "profiles list": (lambda ws, t: ["profiles", "list"], {0}, None),
    "profiles show": (lambda ws, t: ["profiles", "show", "cpu-x86-scanner"], {0}, "budgets"),
    "models list": (lambda ws, t: ["models", "list"], {0}, None),
    "export": (lambda ws, t: ["export", "--model", "toymodels:prompted_net", "--spec", ws.spec, "-o", t / "m.onnx"],
               {0}, "parity"),
    "data phantom": (lambda ws, t: ["data", "phantom", t / "ph", "--per-task", "1", "--splits", "val"], {0}, "counts"),
    "data cine": (lambda ws, t: ["data", "cine", t / "cine", "--frames", "2"], {0}, "frames"),
    "data check": (lambda ws, t: ["data", "check", ws.fixture("small_phantom") / "val"], {0}, "coverage"),
    "cache info": (lambda ws, t: ["cache", "info", "-o", _seeded_cache(ws, "cache-info")], {0}, "kinds"),
    "cache prune": (lambda ws, t: ["cache", "prune", "-o", _seeded_cache(ws, "cache-prune"), "--older-than", "1"],
                    {0}, "kept"),
    "cache clean": (lambda ws, t: ["cache", "clean", "-o", _seeded_cache(ws, "cache-clean")], {0}, "removed"),
    "quantize": (lambda ws, t: ["quantize", ws.toy_onnx, "--target", "cpu-x86-scanner", "-o", t / "q", "--spec",
                                ws.spec, "--data", ws.fixture("small_phantom"), "--per-task", "2"], {0}, "calibration"),
    "compile": (lambda ws, t: ["compile", ws.toy_int8, "--target", "cpu-x86-scanner", "-o", t / "c", "--spec",
                               ws.spec], {0}, "cold_start_s"),
    "validate": (lambda ws, t: ["validate", "--target", "cpu-x86-scanner", "--reference", ws.toy_onnx, "--candidate",
                                ws.toy_int8, "--spec", ws.spec, "--data", ws.fixture("small_phantom"),
                                "--threads", "2"], {0, 2}, None),
    "profile": (lambda ws, t: ["profile", ws.toy_int8, "--target", "cpu-x86-scanner", "--spec", ws.spec, "--data",
                               ws.fixture("small_phantom"), "--threads", "2", "--min-iters", "3",
                               "--min-duration", "0.1"], {0, 2}, None),
    "robustness": (lambda ws, t: ["robustness", ws.toy_onnx, ws.toy_int8, "--target", "cpu-x86-scanner", "--spec",
                                  ws.spec, "--data", ws.fixture("small_phantom"), "--families", "gain",
                                  "--severities", "2", "--threads", "2"], {0, 2}, "drops"),
    "build": (lambda ws, t: ["build", "--target", "cpu-x86-scanner", "--model", "toymodels:prompted_net", "--spec",
                             ws.spec, "--data", ws.fixture("small_phantom"), "-o", t / "dist", "--plan", "fp32",
                             "--no-robustness", "--threads", "2"], {0, 2}, None),
    "finalize": (_finalize, {0, 2}, "engine"),
    "verify": (lambda ws, t: ["verify", ws.fixture("x86_bundle"), "--threads", "2"], {0}, None),
    "keygen": (lambda ws, t: ["keygen", t / "k"], {0}, "public_key"),
    "sign": (lambda ws, t: ["sign", copy_bundle(ws.fixture("x86_bundle"), t), "--key", ws.key], {0},
             "manifest_sha256"),
    "pack": (lambda ws, t: ["pack", ws.fixture("x86_bundle"), "-o", t / "b.tar.gz"], {0}, "sha256"),
    "unpack": (lambda ws, t: ["unpack", _pack(ws, t), "-o", t / "out"], {0}, "bundle"),
    "run": (lambda ws, t: ["run", ws.fixture("x86_bundle"), _image(ws), "--dataset", "Breast", "--task",
                           "classification", "--threads", "2"], {0}, "probability"),
    "compare": (lambda ws, t: ["compare", ws.fixture("x86_bundle")], {0}, None),
    "uusic25 predict": (lambda ws, t: ["uusic25", "predict", ws.fixture("x86_bundle"), "--input-json", ws.records,
                                       "--input-dir", ws.fixture("small_phantom") / "val", "-o", t / "pred"],
                        {0}, "segmentation"),
    "uusic25 score": (lambda ws, t: ["uusic25", "score", "--pred", ws.predicted, "--truth",
                                     ws.fixture("small_phantom") / "val", "--truth-json", ws.records], {0}, None),
    "farm status": (_farm_status, {0}, None),
}


# Run as a user runs them, in a process of their own: a Ray driver stays connected to the farm for the life of
# its process (and the real stdout's file descriptor is what these check)
IN_A_PROCESS = {"farm status"}


def test_every_command_has_a_case():
    assert leaf_commands() == set(CASES) | set(NOT_REPORTING)


@pytest.mark.parametrize("command", sorted(CASES))
def test_json_alone_on_stdout(command, workspace, tmp_path, run_cli):
    make_args, codes, key = CASES[command]
    args = make_args(workspace, tmp_path)
    if command in IN_A_PROCESS:
        from conftest import run_subprocess

        done = run_subprocess(*args, "--json", "-")
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code, out, err = run_cli(*args, "--json", "-")
    assert code in codes, err
    try:
        document = json.loads(out)  # stdout holds the document and nothing else
    except ValueError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}):\n{out[:2000]}") from None
    assert document or document == [], out
    if key is not None:
        assert key in document, sorted(document)
    if command in WITH_SCHEMA:
        assert output_problems(command, document) == []


def test_json_to_a_file_leaves_stdout_to_the_console(workspace, tmp_path, run_cli):
    code, out, _ = run_cli("verify", workspace.fixture("x86_bundle"), "--threads", "2", "--json", tmp_path / "v.json")
    assert code == 0 and "conformance vectors verified" in out
    assert output_problems("verify", json.loads((tmp_path / "v.json").read_text())) == []


def test_native_writes_to_stdout_go_to_stderr_while_json_is_written(tmp_path):
    """fd 1 itself is moved: what a native library prints cannot land among the JSON (Ray, OpenVINO, C++)."""
    import subprocess
    import sys

    code = ("import os\nfrom edgeus.cli.args import emit_json, json_only_stdout\n"
            "with json_only_stdout(True):\n    os.write(1, b'native noise\\n')\n    emit_json('-', {'ok': True})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True} and "native noise" in done.stderr
