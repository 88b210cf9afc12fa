"""`make lint` type-checks: mypy runs after ruff, pinned in the dev extra, with no blanket ignores."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_make_lint_runs_ruff_then_mypy():
    lines = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "-n", "lint", "VENV=/nonexistent-venv"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    venv = "/nonexistent-venv/bin/"
    assert lines[-3:] == [venv + "ruff check .", venv + "ruff format --check .", venv + "mypy"], lines
    assert "make lint" in (REPO / ".ci" / "run").read_text()  # CI lints before the tests


def test_mypy_is_pinned_and_checks_untyped_bodies_without_blanket_ignores():
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert any(re.fullmatch(r"mypy==[0-9.]+", d) for d in dev), dev
    cfg = PYPROJECT["tool"]["mypy"]
    assert cfg["check_untyped_defs"] is True
    assert "src/cost" in cfg["files"]
    assert not cfg.get("ignore_errors") and not cfg.get("ignore_missing_imports")
    for override in cfg.get("overrides", []):  # only untyped third-party modules, never ours
        assert not override.get("ignore_errors"), override
        assert not any(m.startswith("cost") for m in override["module"]), override


def test_every_type_ignore_names_its_error_code():
    bare = []
    for path in sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "experiments").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "# type: ignore" in line and not re.search(r"# type: ignore\[[a-z-]+(, *[a-z-]+)*\]", line):
                bare.append(f"{path.relative_to(REPO)}:{n}")
    assert not bare, f"# type: ignore without an error code: {bare}"


@pytest.mark.slow
def test_mypy_passes(tmp_path):
    pytest.importorskip("mypy", reason="the dev extra installs mypy (make setup)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],  # a fresh cache: every module checked
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("Success: no issues found"), proc.stdout
