"""What `edgeus build` prints: what matters first (target, plan, synthetic evidence), then the plan that ships and
its verdict, then the plans and verdicts tables; the per-task tables and the stage ledger only with -v."""

from __future__ import annotations

from conftest import seed_stages


def test_a_build_leads_with_what_matters_and_stays_short(x86_bundle, small_phantom, tmp_path, run_cli):
    seed_stages(x86_bundle, tmp_path)  # the session's stages: this build reuses them and prints as a full one
    code, out, err = run_cli("build", "--target", "cpu-x86-scanner", "--data", small_phantom, "-o", tmp_path,
                             "--threads", "2", "--plan", "int8-hint")
    assert code in (0, 2), err
    lines = out.strip().splitlines()
    assert lines[0].startswith("edgeus build: uniusnet-small for cpu-x86-scanner")
    assert any("evidence is synthetic" in line for line in lines[:5])
    shipped = next(i for i, line in enumerate(lines) if "plan int8-hint ships" in line)
    assert shipped < next(i for i, line in enumerate(lines) if "Budget verdicts" in line)  # the answer first
    total = len(lines) + len(err.strip().splitlines())
    assert total <= 60, f"{total} lines:\n{out}\n{err}"
    assert "Stage ledger" not in out and "Build summary" not in out  # in report.md, or with -v
    assert "gate(s) pass: " in out and "int8-hint: quantize reused" in err  # one line per plan in a log
    code, out, err = run_cli("build", "--target", "cpu-x86-scanner", "--data", small_phantom, "-o", tmp_path,
                             "--threads", "2", "--plan", "int8-hint", "--force", "--json", "-")
    import json

    outcome = json.loads(out)  # stdout holds the JSON alone; the console went to stderr
    assert outcome["plan"] == "int8-hint" and outcome["evidence"]["synthetic"] is True
    assert outcome["bundle"].endswith("uniusnet-small-cpu-x86-scanner-int8-hint") and outcome["verdicts"]
    assert "evidence is synthetic" in err and code == (0 if outcome["passed"] else 2)
