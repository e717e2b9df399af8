"""The offline sentence encoder: semantics, sentence-transformers parity, and loading with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sapphire_core.errors import ConfigError
from sapphire_lyrics.minilm import EMBED_DIM, default_model_path, embed_sentences, load_minilm


def test_paraphrases_closer_than_unrelated():
    v = embed_sentences([
        "The night is dark and I am all alone",
        "I am by myself in the darkness of the night",
        "Stock prices rose sharply after the earnings report",
    ])
    assert v.shape == (3, EMBED_DIM)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    paraphrase, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert paraphrase > unrelated + 0.3


def test_batching_and_memo_do_not_change_vectors():
    texts = ["short", "a much longer sentence that needs more word pieces than the first one", "short"]
    a = embed_sentences(texts, batch_size=1)
    b = embed_sentences(texts, batch_size=32)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(a[0], a[2])
    assert embed_sentences([]).shape == (0, EMBED_DIM)


def test_loaded_once_per_process():
    assert load_minilm() is load_minilm(default_model_path())


def test_bad_model_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a local Hugging Face model directory"):
        load_minilm(tmp_path)


def test_loads_with_network_blocked(tmp_path):
    """A fresh process with an empty HF cache, offline flags and every socket connect refused."""
    empty_home = tmp_path / "hf_home"
    empty_home.mkdir()
    script = textwrap.dedent(
        """
        import json, socket
        def refuse(*args, **kwargs):
            raise OSError("network blocked by test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        from sapphire_lyrics.minilm import embed_sentences
        v = embed_sentences(["a calm night", "a quiet evening", "heavy traffic jam"])
        print(json.dumps({"shape": list(v.shape), "close": float(v[0] @ v[1]), "far": float(v[0] @ v[2])}))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(empty_home),
           "HF_HUB_CACHE": str(empty_home / "hub"), "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, EMBED_DIM]
    assert result["close"] > result["far"]
    assert not any(empty_home.iterdir()), "nothing may be downloaded into the HF cache"
