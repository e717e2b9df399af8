"""The project's own distributions build for an editable install without a warning from their metadata.

`make install` installs all six distributions editable; every warning setuptools raises while building
them is printed by pip on each fresh install. This builds each one's PEP 660 editable wheel the way pip
does (``build_meta.build_editable`` in the project folder, no build isolation) in a child process with
warnings turned into output, and fails on any warning.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = [ROOT, *sorted((ROOT / "plugins").glob("*/")), ROOT / "examples" / "sapphire-example-modality"]

_BUILD = """
import sys, warnings
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda message, category, *rest: caught.append(f"{category.__name__}: {message}")
from setuptools import build_meta
build_meta.build_editable(sys.argv[1])
# The backend logs its steps on stdout: the warnings follow a marker line.
print("\\n--- warnings ---")
print("\\n".join(caught))
"""


@pytest.mark.parametrize("project", [p for p in DISTRIBUTIONS if (p / "pyproject.toml").exists()],
                         ids=lambda p: p.name)
def test_editable_build_raises_no_warning(project: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _BUILD, str(tmp_path)], cwd=project, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = done.stdout.rpartition("--- warnings ---")[2].strip()
    assert not warnings, f"{project.name}/pyproject.toml: setuptools warns on an editable build:\n{warnings}"
    assert list(tmp_path.glob("*.whl")), "no editable wheel was written"
