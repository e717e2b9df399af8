"""Two CPU ranks (gloo, torchrun-style environment) train to the same parameters as one process on the
same global batch: embeddings are all-gathered with gradient, so the contrastive negatives span both ranks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import test_train_helpers as toys  # noqa: E402

from sapphire_core.checkpoint import load_checkpoint  # noqa: E402

HELPER = Path(__file__).parent / "test_train_helpers.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_single_process(tmp_path):
    corpus = toys.make_toy_corpus(tmp_path / "corpus", works=8, variants=3)
    # Augmentations on, batch order by work, infonce + version-contrastive + a 2-view SSL loss: every
    # part that could differ between ranks is exercised.
    training = {"epochs": 2, "batch_size": 8, "augment": True}
    losses_cfg = {"corpus": str(corpus), "training": training}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(HELPER), json.dumps({**losses_cfg, "out": str(tmp_path / "one")})],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr[-2000:]
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(HELPER), json.dumps({**losses_cfg, "out": str(tmp_path / "two")})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}) for r in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-2000:]
    steps = sorted(json.loads(out.strip().splitlines()[-1])["global_step"] for out, _ in results)
    assert steps == [4, 4]  # both ranks took the 2 x 2 global steps

    a = load_checkpoint(tmp_path / "one" / "model.ckpt")
    b = load_checkpoint(tmp_path / "two" / "model.ckpt")
    assert b["meta"]["world_size"] == 2 and a["meta"]["world_size"] == 1
    moved = 0.0
    init = toys.validated(toys.toy_config())
    for key in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=1e-4, atol=1e-5, msg=key)
    # ...and training did move the weights (the match is not two untouched initialisations).
    torch.manual_seed(0)
    from sapphire_core.model import SapphireModel

    fresh = SapphireModel(init, toys.toy_registry()).state_dict()
    moved = max((fresh[k].float() - a["state_dict"][k].float()).abs().max().item() for k in fresh)
    assert moved > 1e-3
    # the loss logged by rank 0 is the global-batch loss, identical to the single process's
    log1 = [json.loads(x)["loss"] for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    log2 = [json.loads(x)["loss"] for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines() if '"train"' in x]
    assert log1 == __import__("pytest").approx(log2, rel=1e-5)
