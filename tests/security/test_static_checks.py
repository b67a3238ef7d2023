"""Static checks in the test run: bandit (medium severity and confidence) and ruff, zero findings.

A finding that is a false positive gets ``# nosec BXXX - reason`` on its line.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPS = ["abm_site", "accounts", "activation", "engagement", "events", "funnel", "reports"]


def test_bandit_finds_nothing_at_medium_severity_and_confidence():
    result = subprocess.run(
        [str(BIN / "bandit"), "-r", *APPS, "-ll", "-ii", "-q", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
        for r in report["results"]
    ]
    assert not findings, "bandit findings (fix, or '# nosec BXXX - reason'):\n" + "\n".join(
        findings
    )
    assert report["errors"] == []
    assert result.returncode == 0


def test_ruff_is_clean():
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
