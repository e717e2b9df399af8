"""Where things live on disk: the corpus work folder, the feature cache and the index folder.

Corpus folder::

    CORPUS/tracks.jsonl                    the tracks (:mod:`sapphire_core.data`)
    CORPUS/.sapphire/cache/                the feature cache (:mod:`sapphire_core.cache`)
    CORPUS/.sapphire/text_cache/           frozen text-tower embeddings of descriptions
    CORPUS/.sapphire/llm_cache/            answers of the LLM description backend
    CORPUS/.sapphire/eval/                 evaluation tables

Feature cache::

    CACHE/<extractor>/v<version>-<config hash>/<hh>/<content hash>.npz

Index folder (pinned for the web app)::

    INDEX/manifest.json      model path + sha256, config, dims, subspaces, modalities, corpus, cache, extras
    INDEX/store/             the vector store (store.json names its class)
    INDEX/metadata.jsonl     one tracks.jsonl record per indexed track, with "audio_path" absolute
    INDEX/modalities.npz     "ids" + each modality's raw encoder embedding and presence mask
    INDEX/explanations.npz   "ids" + each explanation's interpretable values (names in the manifest)
    INDEX/extras/<name>/     per-track data a plugin adds to the index (index extras)
    INDEX/chunks/            resumable embedding chunks of the corpus as it is (so a rerun re-embeds nothing):
                             ``chunk_<content key>.npz``, content-defined (:mod:`sapphire_core.index.chunking`)
    INDEX/failures.jsonl     tracks that could not be embedded, with the reason

Every path a command defaults to comes from here, so ``--cache`` given to one command can be
found again by the next (the index manifest records the cache it was built from).
"""

from __future__ import annotations

from pathlib import Path

#: The per-corpus work folder (hidden, beside tracks.jsonl).
WORK_DIR = ".sapphire"

# ---------------------------------------------------------------- index folder
MANIFEST = "manifest.json"
STORE_DIR = "store"
METADATA = "metadata.jsonl"
MODALITIES = "modalities.npz"
EXPLANATIONS = "explanations.npz"
EXTRAS_DIR = "extras"
CHUNKS_DIR = "chunks"
FAILURES = "failures.jsonl"


def work_dir(corpus: str | Path) -> Path:
    """``CORPUS/.sapphire``: derived data of one corpus."""
    return Path(corpus) / WORK_DIR


def cache_dir(corpus: str | Path) -> Path:
    """The default feature cache of a corpus (``--cache`` overrides it)."""
    return work_dir(corpus) / "cache"


def text_cache_dir(corpus: str | Path) -> Path:
    """Cached text-tower embeddings of a corpus's descriptions."""
    return work_dir(corpus) / "text_cache"


def llm_cache_dir(corpus: str | Path) -> Path:
    """Cached answers of the LLM description backend for a corpus."""
    return work_dir(corpus) / "llm_cache"


def eval_dir(corpus: str | Path) -> Path:
    """Default output folder of ``sapphire evaluate``."""
    return work_dir(corpus) / "eval"


def cache_entry(root: str | Path, cache_id: str, key: str) -> Path:
    """Where the feature-cache entry of content hash ``key`` for one extractor's ``cache_id`` lives."""
    return Path(root) / cache_id / key[:2] / f"{key}.npz"


def index_cache_dir(manifest: dict) -> Path | None:
    """The feature cache an index was built with: the manifest's ``cache``, else its corpus's default.

    ``None`` when the manifest names neither (an index from another machine without its corpus).
    """
    if manifest.get("cache"):
        return Path(manifest["cache"])
    if manifest.get("corpus"):
        return cache_dir(manifest["corpus"])
    return None


def extra_dir(index_dir: str | Path, name: str) -> Path:
    """``INDEX/extras/<name>``: the folder of one index extra."""
    return Path(index_dir) / EXTRAS_DIR / name
