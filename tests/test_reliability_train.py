"""``train`` never overwrites an interrupted run by accident: a run folder with ``state.pt`` but no
``complete.json`` is refused unless ``--resume`` or ``--restart`` says what to do with it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import test_train_helpers as toys  # noqa: E402

from sapphire_core.checkpoint import load_checkpoint  # noqa: E402
from sapphire_core.errors import ConfigError  # noqa: E402
from sapphire_core.training import TrainingInterrupted  # noqa: E402
from sapphire_core.training.trainer import (  # noqa: E402
    COMPLETE_FILE, STATE_FILE, InterruptedRunError, guard_run_folder,
)

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"
REPO = Path(__file__).resolve().parents[1]


def interrupted_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / STATE_FILE).write_bytes(b"a saved state")
    return path


def test_guard_refuses_an_interrupted_run_and_names_both_flags(tmp_path):
    run_dir = interrupted_folder(tmp_path / "run")
    with pytest.raises(InterruptedRunError, match=r"run: holds an interrupted run \(state\.pt without complete\.json\); "
                                                  r"continue it with 'sapphire train \.\.\. --resume', or discard it "
                                                  r"and start over with 'sapphire train \.\.\. --restart'"):
        guard_run_folder(run_dir, resume=False, restart=False)
    assert (run_dir / STATE_FILE).read_bytes() == b"a saved state"


def test_guard_lets_resume_restart_fresh_and_finished_runs_through(tmp_path):
    guard_run_folder(tmp_path / "new", resume=False, restart=False)  # no folder yet
    run_dir = interrupted_folder(tmp_path / "run")
    guard_run_folder(run_dir, resume=True, restart=False)
    assert (run_dir / STATE_FILE).is_file()
    guard_run_folder(run_dir, resume=False, restart=True, remove=False)  # the CLI's early check deletes nothing
    assert (run_dir / STATE_FILE).is_file()
    guard_run_folder(run_dir, resume=False, restart=True)
    assert not (run_dir / STATE_FILE).exists()
    done = interrupted_folder(tmp_path / "done")
    (done / COMPLETE_FILE).write_text("{}")
    guard_run_folder(done, resume=False, restart=False)  # a finished run may be trained again


def test_resume_and_restart_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--resume and --restart contradict each other"):
        guard_run_folder(tmp_path, resume=True, restart=True)


def test_cli_refuses_an_interrupted_run_before_any_work(tmp_path):
    run_dir = interrupted_folder(tmp_path / "run")
    out = subprocess.run([SAPPHIRE, "train", str(REPO / "configs" / "example_dynamics.yaml"), "--corpus",
                          str(tmp_path / "no_corpus"), "--out", str(run_dir)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "interrupted run" in out.stderr and "--resume" in out.stderr and "--restart" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert (run_dir / STATE_FILE).read_bytes() == b"a saved state"


def test_interrupted_then_refused_then_restarted_equals_a_fresh_run(toy_corpus, registry, tmp_path):
    """SIGTERM mid-run -> no marker; a plain rerun is refused and changes nothing; --restart trains from
    scratch and ends bit-for-bit where a run in an empty folder ends, with the marker written."""
    cfg = toys.toy_config(epochs=2)
    fresh = toys.train_toy(cfg, toy_corpus, tmp_path / "fresh", registry)
    assert json.loads((tmp_path / "fresh" / COMPLETE_FILE).read_text())["global_step"] == fresh.metrics["global_step"]

    def stop_at_3(record):
        if record["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        toys.train_toy(cfg, toy_corpus, cut, registry, on_step=stop_at_3)
    assert (cut / STATE_FILE).is_file() and not (cut / COMPLETE_FILE).exists()
    saved = (cut / STATE_FILE).read_bytes()
    with pytest.raises(InterruptedRunError, match="--resume.*--restart"):
        toys.train_toy(cfg, toy_corpus, cut, registry)
    assert (cut / STATE_FILE).read_bytes() == saved

    again = toys.train_toy(cfg, toy_corpus, cut, registry, restart=True)
    assert (cut / COMPLETE_FILE).is_file()
    assert again.metrics["global_step"] == fresh.metrics["global_step"]
    a, b = load_checkpoint(fresh.checkpoint)["state_dict"], load_checkpoint(again.checkpoint)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert toys.metrics_without_timings(tmp_path / "fresh" / "metrics.jsonl") == \
        toys.metrics_without_timings(cut / "metrics.jsonl")
