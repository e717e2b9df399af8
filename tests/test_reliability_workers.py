"""Workers die with their parent: ``sapphire extract --workers 2`` SIGKILLed mid-run leaves no process
behind, and a rerun fills the cache with exactly the files an uninterrupted run writes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _sigkill import (kill_all, marked, marked_env, new_tag, spawned_workers, tone_corpus,  # noqa: E402
                      wait_until_gone)

from sapphire_core.lifetime import set_parent_death_signal  # noqa: E402

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "example_dynamics.yaml"

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs /proc (Linux)")


def feature_files(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*.npz")) if not p.name.startswith(".")}


def extract(corpus: Path, cache: Path, tag: str, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen([SAPPHIRE, "extract", str(CONFIG), "--corpus", str(corpus), "--cache", str(cache),
                             "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=marked_env(tag, SAPPHIRE_PLUGINS="dynamics"))


# Where each successive run is killed: as its workers start, once they have written a few files, and late.
KILL_POINTS = [
    ("workers starting", lambda tag, new, total: len(spawned_workers(tag)) >= 2),
    ("a few files in", lambda tag, new, total: new >= 2),
    ("two thirds done", lambda tag, new, total: new >= 1 and total >= 30),
]


def test_sigkill_of_extract_leaves_no_orphans_and_a_rerun_matches(tmp_path):
    """Three runs on one cache, each SIGKILLed at a later point: after each, no process is left within
    10 s; a last run completes the cache, whose files equal an uninterrupted run's byte for byte."""
    n_tracks = 45
    corpus = tone_corpus(tmp_path / "corpus", n=n_tracks, seconds=12.0)
    tag = new_tag()
    try:
        # The reference in one process: no pool to start, and the same bytes whatever the worker count.
        full = extract(corpus, tmp_path / "full", tag, workers=1)
        out, err = full.communicate(timeout=300)
        assert full.returncode == 0, err[-2000:]
        reference = feature_files(tmp_path / "full")
        assert len(reference) == n_tracks

        cache = tmp_path / "cut"
        for point, due in KILL_POINTS:
            before = len(feature_files(cache)) if cache.is_dir() else 0
            run = extract(corpus, cache, tag)
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and run.poll() is None:
                total = len(feature_files(cache)) if cache.is_dir() else 0
                if due(tag, total - before, total):
                    break
                time.sleep(0.02)
            workers = spawned_workers(tag)
            run.send_signal(signal.SIGKILL)
            assert run.wait(timeout=30) == -signal.SIGKILL, f"extract ended before the kill point {point!r}"
            assert len(workers) >= 2, f"{point}: the worker processes were not found"
            left = wait_until_gone(tag, 10.0)
            assert not left, f"{point}: still running 10 s after the parent was SIGKILLed: {left}"
        partial = len(feature_files(cache))
        assert 30 <= partial < n_tracks
        # Whatever a killed worker had half-written is a hidden temp file, never a feature file.
        assert all(feature_files(cache)[name] == reference[name] for name in feature_files(cache))

        rerun = extract(corpus, cache, tag)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err[-2000:]
        assert f"{n_tracks}/{n_tracks} tracks ok ({n_tracks - partial} entries computed, {partial} cached)" in out, out
        assert feature_files(cache) == reference
    finally:
        kill_all(marked(tag))


CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(120)
""")

GRANDCHILD_PDEATHSIG = ("import os, time\nfrom sapphire_core.lifetime import set_parent_death_signal\n"
                        "assert set_parent_death_signal()\ntime.sleep(120)")
GRANDCHILD_WATCHDOG = ("import os, threading, time\nfrom sapphire_core import lifetime\n"
                       "threading.Thread(target=lifetime._watch, args=(os.getppid(), 0.2), daemon=True).start()\n"
                       "time.sleep(120)")


@pytest.mark.parametrize("code", [GRANDCHILD_WATCHDOG, pytest.param(GRANDCHILD_PDEATHSIG, marks=pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="prctl is Linux-only"))], ids=["watchdog", "pdeathsig"])
def test_each_mechanism_alone_ends_the_child(code):
    """prctl and the getppid watchdog each end a child whose parent was SIGKILLed (the other one off)."""
    tag = new_tag()
    parent = subprocess.Popen([sys.executable, "-c", CHILD, code], stdout=subprocess.PIPE, text=True,
                              env=marked_env(tag))
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # let the child set its guard up
        assert child in marked(tag)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        assert not wait_until_gone(tag, 5.0)
    finally:
        kill_all(marked(tag))


def test_death_signal_is_available_here():
    if sys.platform.startswith("linux"):
        assert set_parent_death_signal(0)  # 0 clears it again: this pytest process keeps no death signal
