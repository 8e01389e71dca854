"""The README's quick start is the contract CI runs: keep them identical."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_exactly_two_commands_and_ci_runs_the_second():
    commands = _quick_start_commands()
    assert len(commands) == 2
    install, test = commands
    assert "torch==2.13.0" in install and "torch==2.13.0" in test  # never an unpinned (CUDA) torch
    assert "pytest" in test
    ci = (REPO / ".ci" / "run").read_text()
    assert test in ci.splitlines()
