"""A training process SIGKILLed mid-epoch resumes from its last checkpoint and ends exactly where an
uninterrupted run ends (deterministic data order by seed + epoch)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import test_train_helpers as toys  # noqa: E402

from sapphire_core.checkpoint import load_checkpoint  # noqa: E402

HELPER = Path(__file__).parent / "test_train_helpers.py"


def launch(args: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HELPER), json.dumps(args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    corpus = toys.make_toy_corpus(tmp_path / "corpus", works=8, variants=3)
    # 18 training tracks, batch 4 -> 4 steps per epoch, 3 epochs; a state every 2 steps.
    training = {"epochs": 3, "batch_size": 4, "augment": True}
    base = {"corpus": str(corpus), "training": training, "checkpoint_every": 2}
    full = launch({**base, "out": str(tmp_path / "full")})
    killed = launch({**base, "out": str(tmp_path / "cut"), "sleep": 0.4})
    # Kill once a mid-epoch state exists (epoch 2, 2 of 4 steps done), before the run can finish.
    state = tmp_path / "cut" / "state.pt"
    deadline = time.monotonic() + 240
    seen = None
    while time.monotonic() < deadline and killed.poll() is None:
        if state.is_file():
            try:
                st = torch.load(state, weights_only=True)
            except Exception:  # caught mid-rename: try again
                st = None
            if st is not None and st["epoch"] == 1 and st["step_in_epoch"] == 2:
                killed.send_signal(signal.SIGKILL)
                seen = (st["epoch"], st["step_in_epoch"], st["global_step"])
                break
        time.sleep(0.05)
    assert killed.wait(timeout=60) == -signal.SIGKILL, "the run ended before a mid-epoch checkpoint"
    assert seen == (1, 2, 6)
    assert full.wait(timeout=300) == 0, full.stderr.read()[-2000:]
    assert not (tmp_path / "cut" / "curves.png").exists()

    resumed = launch({**base, "out": str(tmp_path / "cut"), "resume": True})
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["global_step"] == 12

    a = load_checkpoint(tmp_path / "full" / "model.ckpt")
    b = load_checkpoint(tmp_path / "cut" / "model.ckpt")
    for key in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=0, atol=0, msg=key)
    assert a["meta"]["epoch"] == b["meta"]["epoch"] == 3
    # The log has every step exactly once, as if nothing had happened.
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
             if '"train"' in x]
    assert steps == list(range(1, 13))
