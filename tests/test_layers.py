"""The import-linter contracts of pyproject.toml: core layers, the plugins' boundary, plugin independence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"


def lint(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})


def test_the_project_keeps_its_contracts():
    out = lint()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


def test_a_deliberate_violation_fails(tmp_path):
    """A scratch package whose interface layer imports its CLI layer breaks a layers contract of the
    same shape as the core's."""
    pkg = tmp_path / "scratchpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("from scratchpkg import interfaces\n")
    (pkg / "interfaces.py").write_text("def f():\n    from scratchpkg import cli  # the violation\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = scratchpkg\n\n[importlinter:contract:layers]\nname = scratch layers\n"
        "type = layers\nlayers =\n    scratchpkg.cli\n    scratchpkg.interfaces\n")
    out = lint("--config", str(tmp_path / ".importlinter"), cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode != 0
    assert "scratchpkg.interfaces is not allowed to import scratchpkg.cli" in out.stdout
