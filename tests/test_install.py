"""Installing: the pinned dependencies resolve on Python 3.12/3.13 and other platforms; Makefile rules.

The resolution test asks the package registry which wheels exist, with
`uv pip compile --python-version X --python-platform P` (pip cannot evaluate another
platform's markers, and its dry run downloads every wheel): every pin of pyproject.toml must
resolve to its version for that Python and platform, with decord only where its marker says.
hydra-core's antlr4 runtime (4.9.x) ships no wheel, so a wheel of it (pure Python, the same
everywhere) is built once first and uv builds nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# uv platform name -> marker values there. torch 2.13.0's macOS wheels need macOS 14.
PLATFORMS = {
    "x86_64-manylinux_2_28": dict(sys_platform="linux", platform_system="Linux", platform_machine="x86_64"),
    "aarch64-manylinux_2_28": dict(sys_platform="linux", platform_system="Linux", platform_machine="aarch64"),
    "aarch64-apple-darwin": dict(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64"),
    "x86_64-pc-windows-msvc": dict(sys_platform="win32", platform_system="Windows", platform_machine="AMD64"),
}


def _pins() -> list[Requirement]:
    reqs = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    return [Requirement(r) for r in reqs]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where), "antlr4-python3-runtime==4.9.3"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where


@pytest.mark.slow
@pytest.mark.parametrize(
    "python,platform",
    [
        ("3.12", "x86_64-manylinux_2_28"),
        ("3.13", "x86_64-manylinux_2_28"),
        ("3.12", "aarch64-apple-darwin"),
        ("3.13", "aarch64-manylinux_2_28"),
        ("3.12", "x86_64-pc-windows-msvc"),
    ],
)
def test_pinned_dependencies_resolve(python, platform, wheels, tmp_path):
    out = tmp_path / "resolved.txt"
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", MACOSX_DEPLOYMENT_TARGET="14.0")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            str(REPO / "pyproject.toml"),
            "--extra",
            "dev",
            "--python-version",
            python,
            "--python-platform",
            platform,
            "--no-config",
            "--no-build",
            "--find-links",
            str(wheels),
            "--cache-dir",
            str(wheels / "uv-cache"),
            "--no-header",
            "--no-annotate",
            "-q",
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = dict(line.split("==", 1) for line in out.read_text().split() if "==" in line)
    markers = dict(
        PLATFORMS[platform],
        python_version=python,
        python_full_version=python + ".0",
        extra="dev",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        os_name="nt" if platform.endswith("msvc") else "posix",
    )
    for req in _pins():
        if req.marker is not None and not req.marker.evaluate(markers):
            assert req.name not in resolved, f"{req.name} resolved on {platform} against its marker"
            continue
        assert req.name in resolved, f"{req.name} missing from the Python {python} {platform} resolution"
        assert req.specifier.contains(resolved[req.name]), (req, resolved[req.name])
    # decord only where it has wheels; the auto decode backend uses PyAV elsewhere.
    assert ("decord" in resolved) == (PLATFORMS[platform]["platform_machine"] in ("x86_64", "AMD64"))


def test_requires_python_covers_311_to_313():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(spec.contains(v) for v in ("3.11.0", "3.12.0", "3.13.0"))
    assert not spec.contains("3.10.12")


def _make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_make_help_lists_every_target_once():
    rules = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), flags=re.M))
    lines = _make("help").splitlines()
    listed = [line.split()[0] for line in lines]
    assert sorted(listed) == sorted(rules) and len(listed) == len(set(listed))
    assert all(len(line.split()) > 1 for line in lines)  # each with its one-line description
    assert {"test", "test-fast", "check-gpu", "clean", "clean-outputs", "notebooks"} <= rules


def test_make_clean_keeps_outputs_and_test_fast_skips_slow():
    clean = _make("-n", "clean")
    assert ".venv" in clean and "outputs" not in clean and "data" not in clean
    assert "rm -rf outputs" in _make("-n", "clean-outputs")
    fast = _make("-n", "test-fast", "VENV=/nonexistent-venv")
    assert 'pytest -q -m "not slow"' in fast
    full = _make("-n", "test", "VENV=/nonexistent-venv").splitlines()[-1]
    assert full.endswith("-m pytest -q")  # the whole suite, as CI runs it


def test_make_takes_python():
    setup = _make("-n", "setup", "PYTHON=python3.12", "VENV=/nonexistent-venv")
    assert "python3.12 -m venv /nonexistent-venv" in setup
