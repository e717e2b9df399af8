"""Shared parts of the SIGKILL tests (extract, index, train, corpus build): find every process a test
started (and theirs) by a marker in its environment, wait for them to end, clean up after a failed
test, a small corpus of tone melodies, and a folder's files for byte-for-byte comparison.

Import from a test module with ``sys.path`` pointing at this folder (as ``_trained``).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import numpy as np

from sapphire_core.testing import signals

#: The environment variable that tags a test's processes; children inherit it, so it finds them all.
MARKER = "SAPPHIRE_ORPHAN_TEST"


def new_tag() -> str:
    """A fresh marker value: one per test, so concurrent tests never see each other's processes."""
    return uuid.uuid4().hex


def marked_env(tag: str, **extra: str) -> dict[str, str]:
    """This process's environment plus ``MARKER=tag`` (and ``extra``), for a subprocess to start with."""
    return {**os.environ, MARKER: tag, **extra}


def marked(tag: str) -> list[int]:
    """Live pids whose environment carries ``MARKER=tag`` (every process the test started, and theirs)."""
    needle = f"{MARKER}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a zombie has exited; it only waits to be reaped
                    found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def spawned_workers(tag: str) -> list[int]:
    """The pool's worker processes among the marked ones (multiprocessing's spawn entry point)."""
    found = []
    for pid in marked(tag):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def wait_until_gone(tag: str, seconds: float) -> list[int]:
    """Wait up to ``seconds`` for every marked process to end; the pids still running then."""
    deadline = time.monotonic() + seconds
    left = marked(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = marked(tag)
    return left


def kill_all(pids: list[int]) -> None:
    """SIGKILL ``pids`` (only ever the processes a test found by its own marker)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def folder_bytes(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too: a leftover temp file must show) by relative path,
    except those whose relative path starts with one of ``skip``."""
    return {rel: p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not (rel := p.relative_to(folder).as_posix()).startswith(skip)}


def tone_corpus(root: Path, n: int, seconds: float, *, sr: int = 22050) -> Path:
    """``n`` tracks of a repeated four-note bar (each its own work), ``seconds`` long, as WAV files."""
    (root / "audio").mkdir(parents=True)
    lines = []
    for i in range(n):
        bar = signals.melody([60 + i % 12, 64 + i % 7, 67, 72 - i % 5], durations=0.5, sr=sr)
        y = np.tile(bar, int(np.ceil(seconds * sr / len(bar))))[: int(seconds * sr)]
        signals.write_wav(root / f"audio/t{i:02d}.wav", y, sr)
        lines.append(json.dumps({"id": f"t{i:02d}", "audio": f"audio/t{i:02d}.wav", "work_id": f"w{i}"}))
    (root / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    return root
