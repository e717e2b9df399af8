"""SIGKILL at three points of ``sapphire index`` and of ``sapphire train`` / ``train --resume``: no process
is left behind, and the run that finishes the job writes what one uninterrupted run writes.

``extract --workers 2`` has the same test in ``test_reliability_workers.py``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from _fuzz_run import checkpoint  # noqa: E402
from _trained import corpus_chunk_ids  # noqa: E402
from _sigkill import (folder_bytes, kill_all, marked, marked_env, new_tag, spawned_workers,  # noqa: E402
                      tone_corpus, wait_until_gone)

from sapphire_core.layout import CHUNKS_DIR, MANIFEST, METADATA  # noqa: E402

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
#: The model's modality, and the plugins of the extras that must come out identical too: the vocal
#: plugin's ``melody`` (query by humming) and the acoustic plugin's ``chroma_sequence`` (version search).
INDEX_PLUGINS = "dynamics,vocal,acoustic"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs /proc (Linux)")]


def stop_when(run: subprocess.Popen, due, what: str, seconds: float = 240.0) -> None:
    """Poll until ``due()`` holds, then SIGKILL ``run`` (the parent only: its workers must follow by themselves)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and run.poll() is None and not due():
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    out, err = run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL, f"the run ended before the kill point {what!r}: {out[-500:]}{err[-2000:]}"


# ---------------------------------------------------------------- sapphire index


def index(corpus: Path, out: Path, cache: Path, tag: str, workers: int) -> subprocess.Popen:
    return subprocess.Popen([SAPPHIRE, "index", "--model", str(checkpoint()), "--corpus", str(corpus),
                             "--out", str(out), "--cache", str(cache), "--chunk-size", "4", "--workers", str(workers),
                             "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=marked_env(tag, SAPPHIRE_PLUGINS=INDEX_PLUGINS))


def chunks(out: Path) -> list[Path]:
    return sorted((out / CHUNKS_DIR).glob("chunk_*.npz")) if (out / CHUNKS_DIR).is_dir() else []


def cached(cache: Path) -> int:
    return sum(1 for p in cache.rglob("*.npz") if not p.name.startswith(".")) if cache.is_dir() else 0


def test_sigkill_of_index_at_three_points_then_a_rerun_equals_one_run(tmp_path):
    """Three ``index --workers 2`` runs on one folder, killed while the pool extracts features, between
    chunk writes, and while the store, metadata and extras are written: after each no process is left
    within 10 s, and a fourth run leaves the index folder (chunks, store, metadata, explanations, the
    ``melody`` and ``chroma_sequence`` extras, manifest) byte-identical to an uninterrupted run's."""
    n_tracks = 12
    corpus = tone_corpus(tmp_path / "corpus", n=n_tracks, seconds=4.0)
    n_chunks = len(corpus_chunk_ids(corpus, 4))
    cache, out = tmp_path / "cache", tmp_path / "index"
    tag = new_tag()
    try:
        # The reference: an uninterrupted run with the same --workers as the killed ones (the melody
        # extra's torch floats depend on the threads per process, so one process differs from a pool's
        # workers in the last bits: tests/test_index_extras_workers.py), into the cache path the killed
        # runs will use (the manifest names it); the cache is then moved aside so that they extract
        # everything again.
        full = index(corpus, tmp_path / "reference", cache, tag, workers=2)
        stdout, err = full.communicate(timeout=600)
        assert full.returncode == 0, err[-2000:]
        reference = folder_bytes(tmp_path / "reference")
        extras = {name.split("/")[1] for name in reference if name.startswith("extras/")}
        assert {"melody", "chroma_sequence"} <= extras, sorted(reference)
        assert len(chunks(tmp_path / "reference")) == n_chunks
        cache.rename(tmp_path / "cache_reference")

        points = [
            ("extracting features", lambda: len(spawned_workers(tag)) >= 2 and cached(cache) >= 1),
            ("between chunk writes", lambda: len(chunks(out)) >= 1),
            ("writing the index and its extras", lambda: (out / METADATA).is_file()),
        ]
        for what, due in points:
            run = index(corpus, out, cache, tag, workers=2)
            stop_when(run, due, what)
            left = wait_until_gone(tag, 10.0)
            assert not left, f"{what}: still running 10 s after the parent was SIGKILLed: {left}"
            assert not (out / MANIFEST).exists(), f"{what}: the build finished before it was killed"
            if what == "extracting features":
                assert not chunks(out)
            if what == "between chunk writes":
                assert 1 <= len(chunks(out)) < n_chunks
        # Whatever was complete when killed is already what the uninterrupted run wrote.
        partial = folder_bytes(out)
        assert all(partial[name] == reference[name] for name in partial if not Path(name).name.startswith("."))

        rerun = index(corpus, out, cache, tag, workers=2)
        stdout, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, err[-2000:]
        assert f"{n_tracks} tracks indexed" in stdout and "0 failed" in stdout, stdout
        assert folder_bytes(out) == reference
        assert not wait_until_gone(tag, 10.0)
    finally:
        kill_all(marked(tag))


# ---------------------------------------------------------------- sapphire train, then train --resume

TESTS = Path(__file__).parent
# Runs the training tests' toy trainer (``test_train_helpers._main``: the library call behind
# ``sapphire train [--resume]``) with one fault injected that SIGKILLs the process at an exact point.
# An outside kill cannot aim at a write that takes microseconds; what the kill leaves is the same.
KILLED_TRAINER = """
import json, os, signal, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import test_train_helpers as toys
from sapphire_core import checkpoint, io
from sapphire_core.training import runlog

point, args = sys.argv[2], sys.argv[3]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "mid-epoch":  # once step 7 is logged: the last saved state is step 6's
    log = runlog.MetricsLogger.log
    def log_then_die(self, record):
        log(self, record)
        if record["type"] == "train" and record["step"] == 7:
            die()
    runlog.MetricsLogger.log = log_then_die
elif point == "writing state.pt":  # half of the next state in atomic_write_bytes's temp file, then dead
    def half_then_die(path, data):
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.write(fd, data[: len(data) // 2])
        os.fsync(fd)
        die()
    io.atomic_write_bytes = half_then_die  # the trainer writes state.pt through it, model.ckpt not
elif point == "between epochs":  # epoch 2's model.ckpt written, before its validation state is saved
    save = checkpoint.save_checkpoint
    def save_then_die(path, **kw):
        out = save(path, **kw)
        if kw["meta"]["epoch"] == 2:
            die()
        return out
    checkpoint.save_checkpoint = save_then_die
if point != "none":
    print("armed", point, flush=True)
toys._main([args])
"""


def trainer(point: str, args: dict, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_TRAINER, str(TESTS), point, json.dumps(args)],
                          capture_output=True, text=True, timeout=600, env=marked_env(tag))


def state_of(run_dir: Path) -> tuple[int, int, int]:
    import torch

    st = torch.load(run_dir / "state.pt", weights_only=True)
    return st["epoch"], st["step_in_epoch"], st["global_step"]


def test_sigkill_of_train_at_three_points_then_resume_equals_one_run(tmp_path):
    """``train`` killed mid-epoch, then ``--resume`` killed while writing ``state.pt`` and again between
    epochs (model.ckpt of epoch 2 written, its state not): no process is left, each resume starts from
    the last complete state, and the last ``--resume`` ends with the files of an uninterrupted run: the
    same model.ckpt, state.pt, complete.json and curves.png bytes, and metrics.jsonl equal but for
    the wall-clock timings of each step (the only figures that are not a function of the seed)."""
    import test_train_helpers as toys

    corpus = toys.make_toy_corpus(tmp_path / "corpus", works=8, variants=3)
    # 18 training tracks, batch 4: 4 steps per epoch, 3 epochs; a state every 2 steps and per epoch.
    base = {"corpus": str(corpus), "training": {"epochs": 3, "batch_size": 4, "augment": True},
            "checkpoint_every": 2}
    tag = new_tag()
    try:
        full = trainer("none", {**base, "out": str(tmp_path / "full")}, tag)
        assert full.returncode == 0, full.stderr[-2000:]
        cut = tmp_path / "cut"
        # (where, resume?, the state a resume starts from afterwards)
        for point, resume, after in [("mid-epoch", False, (1, 2, 6)), ("writing state.pt", True, (1, 2, 6)),
                                     ("between epochs", True, (1, 4, 8))]:
            run = trainer(point, {**base, "out": str(cut), "resume": resume}, tag)
            assert run.returncode == -signal.SIGKILL, f"{point}: {run.stdout[-500:]}{run.stderr[-2000:]}"
            assert not wait_until_gone(tag, 10.0), f"{point}: processes left behind"
            assert not (cut / "complete.json").exists()
            assert state_of(cut) == after, point  # a half-written state never replaces the last whole one
            if point == "writing state.pt":
                assert any(cut.glob(".state.pt.*.tmp"))  # the next run removes it

        resumed = trainer("none", {**base, "out": str(cut), "resume": True}, tag)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert json.loads(resumed.stdout.strip().splitlines()[-1])["global_step"] == 12
        assert toys.metrics_without_timings(cut / "metrics.jsonl") == \
            toys.metrics_without_timings(tmp_path / "full" / "metrics.jsonl")
        assert folder_bytes(cut, skip=("metrics.jsonl",)) == folder_bytes(tmp_path / "full", skip=("metrics.jsonl",))
        assert not wait_until_gone(tag, 10.0)
    finally:
        kill_all(marked(tag))
