"""The README's examples work as written. Snippets that need no network and no other machine run for real (the
vendor's Python against a built bundle, the OpenSSL signature check); the rest have their names checked: every
``edgeus`` command line parses with the real parser, every ``edgeus.X`` exists and takes the keywords used,
every extra named in a ``pip install`` exists, every file named exists. (The two quick-start commands are
what CI runs: tests/test_readme.py.)"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeus.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def shell_lines() -> list[str]:
    """The README's shell lines, comments dropped, continuation lines joined."""
    lines = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def edgeus_argv(line: str) -> list[list[str]]:
    """The edgeus argument vectors in a shell line: `edgeus ...`, after `&& edgeus`, or a container whose entry
    point is edgeus (`docker run ... edgeus-jetson ARGS`)."""
    found = []
    for part in re.split(r"&&|\|", line):
        words = shlex.split(part.replace("$B", "BUNDLE"))
        if words and words[0] == "edgeus":
            found.append(words[1:])
        elif words[:2] == ["docker", "run"] and "edgeus-jetson" in words:
            found.append(words[words.index("edgeus-jetson") + 1:])
    return found


def _subparser(words: list[str]):
    """The parser of 'data phantom', 'build', ... and how many of ``words`` named it."""
    import argparse

    parser, used = build_parser(), 0
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or used >= len(words) or words[used] not in subs[0].choices:
            return parser, used
        parser, used = subs[0].choices[words[used]], used + 1


def test_every_edgeus_command_line_parses():
    parser = build_parser()
    argvs = [argv for line in shell_lines() for argv in edgeus_argv(line)]
    assert len(argvs) >= 5
    for argv in argvs:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse's way of saying no
            pytest.fail(f"README: 'edgeus {' '.join(argv)}' does not parse (exit {exc.code})")


def test_every_synopsis_in_the_text_parses():
    """`edgeus build --target P [--data DIR]`: the required part parses, every optional flag exists."""
    checked = 0
    for synopsis in re.findall(r"`edgeus ([^`|]*?)`", README):
        if any(mark in synopsis for mark in ("...", "COMMAND", "&&", "<")) or synopsis.startswith("-"):
            continue  # notation for many commands, or a global option
        required = shlex.split(re.sub(r"\[[^\]]*\]", "", synopsis))
        if all(re.fullmatch(r"[a-z0-9]+", w) for w in required) and _subparser(required)[1] == len(required) \
                and "[" not in synopsis:
            continue  # a command's name in a sentence ('edgeus run'), not a command line
        try:
            build_parser().parse_args(required)
        except SystemExit as exc:
            pytest.fail(f"README: 'edgeus {synopsis}': its required part does not parse (exit {exc.code})")
        sub, _ = _subparser(required)
        options = {o for a in sub._actions for o in a.option_strings}
        for group in re.findall(r"\[([^\]]*)\]", synopsis):
            flag = group.split()[0]
            assert flag in options, f"README: 'edgeus {synopsis}': no option {flag}"
        checked += 1
    assert checked >= 20


def test_every_command_named_in_the_readme_exists():
    import argparse

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    named = set(re.findall(r"`edgeus ([a-z0-9]+)", README))
    assert named and named <= set(commands), named - set(commands)


def test_every_extra_installed_in_the_readme_exists():
    from edgeus._compat import tomllib

    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {e.strip() for group in re.findall(r'edgeus\[([a-z0-9,\- ]+)\]|"\.\[([a-z0-9,\- ]+)\]"', README)
             for g in group if g for e in g.split(",")}
    assert named and named <= extras, named - extras


def test_every_file_the_readme_points_at_exists():
    named = set(re.findall(r"\]\(((?:docs|benchmarks|tools|edgeus)/[^)#]+)\)", README))
    named |= set(re.findall(r"`((?:docs|benchmarks|tools|edgeus|tests)/[\w./-]+\.(?:py|md|toml|json|png))`", README))
    named |= {"Dockerfile.jetson"} if "Dockerfile.jetson" in README else set()
    missing = sorted(n for n in named if not (REPO / n).exists())
    assert named and not missing, missing


def test_the_api_snippet_names_exist_and_take_the_keywords_used():
    import edgeus

    checked = 0
    for block in blocks("python"):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "edgeus":
                assert hasattr(edgeus, node.attr), f"README uses edgeus.{node.attr}, which does not exist"
                checked += 1
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgeus"):
                module = __import__(node.module, fromlist=["_"])
                for alias in node.names:
                    assert hasattr(module, alias.name), f"README imports {alias.name} from {node.module}"
                    checked += 1
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "edgeus":
                signature = inspect.signature(getattr(edgeus, node.func.attr))
                signature.bind_partial(*[None] * len(node.args), **{k.arg: None for k in node.keywords if k.arg})
    assert checked >= 5


def test_the_vendor_snippets_run_as_written(x86_bundle, small_phantom, tmp_path, monkeypatch):
    """The 'Installing for a device' Python, run in a folder holding dist/<bundle> and scan.png; the names the
    second snippet leaves to the reader (paths, save, frames, show) are given real values."""
    import numpy as np

    (tmp_path / "dist").mkdir()
    shutil.copytree(x86_bundle, tmp_path / "dist" / x86_bundle.name)
    val = small_phantom / "val"
    scan = next((val / "segmentation").rglob("*.png"))
    shutil.copy(scan, tmp_path / "scan.png")
    monkeypatch.chdir(tmp_path)
    saved, shown = {}, {}
    namespace = {"paths": [str(tmp_path / "scan.png")], "save": saved.__setitem__,
                 "frames": [np.zeros((60, 80), np.uint8)] * 2, "show": shown.__setitem__}
    vendor = [b for b in blocks("python") if "edgeus.runtime" in b]
    assert len(vendor) == 2
    for block in vendor:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 -- the README's own code
    assert namespace["mask"].dtype == np.uint8 and set(np.unique(namespace["mask"])) <= {0, 255}
    assert abs(float(np.sum(namespace["probs"])) - 1) < 1e-4
    assert len(saved) == 1 and len(shown) == 2


def test_the_openssl_lines_verify_a_signed_bundle(x86_bundle, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command on this machine")
    from edgeus.bundle.signing import generate_key, sign_bundle

    bundle = tmp_path / x86_bundle.name
    shutil.copytree(x86_bundle, bundle)
    generate_key(bundle / "vendor.key")  # the README's names: vendor.key.pub in the bundle's folder
    sign_bundle(bundle, bundle / "vendor.key")
    script = next(b for b in blocks("bash") if "openssl pkeyutl" in b)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=bundle, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr
    manifest = bundle / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"passed": true', b'"passed": false', 1))
    done = subprocess.run(["bash", "-c", script], cwd=bundle, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0  # an edited manifest no longer verifies
