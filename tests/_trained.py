"""Shared helpers of the retrieval/evaluation tests: an in-test toy modality set over a small rendered
corpus (built once per process), and the demo corpus + a model trained on it by the real trainer
(trained once per process, reused by every test module that asks).

Import from a test module with ``sys.path`` pointing at this folder (``--import-mode=importlib``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sapphire_core import hookimpl
from sapphire_core.encoder import Encoder, EncoderConfig, TextEncoder
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.index_extra import IndexExtra
from sapphire_core.testing import signals

TOY_DIM = 32


class ToyChroma(FeatureExtractor):
    """12-bin pitch-class energy of the whole track (magnitude spectrum folded onto pitch classes)."""

    name, modality, version, sample_rate = "toy_chroma", "pitch", "1", 16000

    def output_shapes(self):
        return {"chroma": (12,)}

    def extract(self, audio, track):
        spec = np.abs(np.fft.rfft(audio[: 16000 * 8]))
        freqs = np.fft.rfftfreq(min(len(audio), 16000 * 8), 1 / 16000)
        ok = (freqs > 60) & (freqs < 2000)
        pc = np.round(12 * np.log2(freqs[ok] / 440.0)).astype(int) % 12
        chroma = np.bincount(pc, weights=spec[ok] ** 2, minlength=12)
        return {"chroma": (chroma / (chroma.sum() + 1e-9)).astype(np.float32)}


def _hash_bow(text: str, width: int) -> np.ndarray:
    v = np.zeros(width, np.float32)
    for word in text.lower().split():
        v[int(hashlib.md5(word.encode()).hexdigest(), 16) % width] += 1.0
    return v / (np.linalg.norm(v) + 1e-9)


class ToyLyricsBow(FeatureExtractor):
    """Hashed bag of words of the lyrics; ``present`` 0 for instrumentals."""

    name, modality, version, needs_audio = "toy_bow", "lyrics", "1", False

    def output_shapes(self):
        return {"bow": (32,), "present": ()}

    def extract(self, audio, track):
        text = track.lyrics or ""
        return {"bow": _hash_bow(text, 32), "present": np.float32(1.0 if text.strip() else 0.0)}


class _ToyLinearEncoder(Encoder):
    """A linear map of one ``(B, width)`` feature ``key``."""

    key: str
    width: int

    class Config(EncoderConfig):
        output_dim: int = 16

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.net = nn.Linear(self.width, self.output_dim)

    def forward(self, features):
        return self.net(features[self.key])

    def example_features(self, batch_size=2, *, seed=0):
        return {self.key: torch.rand(batch_size, self.width, generator=torch.Generator().manual_seed(seed))}


class ToyPitchEncoder(_ToyLinearEncoder):
    name, modality, requires, key, width = "toy_pitch_enc", "pitch", ("toy_chroma",), "toy_chroma.chroma", 12


class ToyLyricsEncoder(_ToyLinearEncoder):
    name, modality, requires, key, width = "toy_lyrics_enc", "lyrics", ("toy_bow",), "toy_bow.bow", 32


class ToyTextTower(TextEncoder):
    name = "toy_text"

    class Config(EncoderConfig):
        output_dim: int = 24

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.net = nn.Linear(64, self.output_dim)

    def tokenize(self, texts):
        return {"bow": torch.from_numpy(np.stack([_hash_bow(t, 64) for t in texts]))}

    def forward(self, features):
        return self.net(features["bow"])


class ToyPlugin:
    @hookimpl
    def register_extractors(self, register):
        register(ToyChroma)
        register(ToyLyricsBow)

    @hookimpl
    def register_encoders(self, register):
        register(ToyPitchEncoder)
        register(ToyLyricsEncoder)
        register(ToyTextTower)


TOY_CONFIG = {
    "name": "toy",
    "modalities": {
        "pitch": {"encoder": {"name": "toy_pitch_enc"}},
        "lyrics": {"encoder": {"name": "toy_lyrics_enc"}},
    },
    "fusion": {"name": "concat_mlp", "output_dim": TOY_DIM, "hidden": 32, "dropout": 0.0,
               "subspaces": {"pitch": 8, "lyrics": 8}},
    "text": {"name": "toy_text"},
    "losses": [{"name": "infonce"}],
}

#: work -> (pitches, lyrics, mode)
TOY_WORKS = {
    "w0": ([60, 64, 67, 72, 67, 64, 60, 64], "the river runs so slowly", "major"),
    "w1": ([57, 60, 64, 69, 64, 60, 57, 60], "night falls on the cold hills", "minor"),
    "w2": ([62, 66, 69, 74, 69, 66, 62, 66], None, "major"),
    "w3": ([64, 67, 71, 76, 71, 67, 64, 67], None, "minor"),
    "w4": ([65, 69, 72, 77, 72, 69, 65, 69], "dance in the bright morning sun", "major"),
    "w5": ([59, 62, 66, 71, 66, 62, 59, 62], None, "minor"),
}


def toy_registry():
    from sapphire_core.plugins import build_registry, get_plugin_manager

    return build_registry(get_plugin_manager(load_entrypoints=False, plugins=[ToyPlugin()]))


def write_toy_corpus(root: Path) -> Path:
    """6 works x 2 variants (the second slower and louder), lyrics on half, plus an excerpt query."""
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "excerpts").mkdir(exist_ok=True)
    lines, queries = [], []
    for w, (pitches, lyrics, mode) in TOY_WORKS.items():
        for v, (scale, gain) in enumerate([(1.0, 0.5), (1.25, 0.8)]):
            tid = f"{w}__v{v}"
            y = signals.melody(pitches, durations=0.3 * scale, sr=16000) * gain
            signals.write_wav(root / f"audio/{tid}.wav", y, 16000)
            rec = {"id": tid, "audio": f"audio/{tid}.wav", "work_id": w, "variant_id": f"v{v}", "mode": mode,
                   "era": "baroque" if int(w[1]) % 2 == 0 else "romantic", "tempo_bpm": 100.0 / scale,
                   "instrument_family": "keyboard" if v == 0 else "strings", "key": f"C {mode}"}
            if lyrics:
                rec["lyrics"] = lyrics
                rec["language"] = "en"
            lines.append(json.dumps(rec))
            if v == 0:
                signals.write_wav(root / f"excerpts/{tid}.wav", y[: int(len(y) * 0.6)], 16000)
                queries.append(json.dumps({"id": f"q_{tid}", "kind": "excerpt", "audio": f"excerpts/{tid}.wav",
                                           "work_id": w, "source_track": tid, "offset": 0.0,
                                           "duration": len(y) * 0.6 / 16000}))
    (root / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n")
    rel = [json.dumps({"work_id": w, "tracks": [f"{w}__v0", f"{w}__v1"],
                       "labels": {"mode": m, "era": "baroque" if int(w[1]) % 2 == 0 else "romantic"}})
           for w, (_, _, m) in TOY_WORKS.items()]
    (root / "relations.jsonl").write_text("\n".join(rel) + "\n")
    return root


def toy_checkpoint(path: Path, registry, *, seed: int = 0, val_works=("w0", "w1", "w2")) -> Path:
    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.config import config_to_dict, validate_config
    from sapphire_core.model import SapphireModel

    torch.manual_seed(seed)
    cfg = validate_config(TOY_CONFIG, registry, source="toy")
    model = SapphireModel(cfg, registry)
    val = [f"{w}__v{v}" for w in val_works for v in (0, 1)]
    train = [f"{w}__v{v}" for w in TOY_WORKS if w not in val_works for v in (0, 1)]
    return save_checkpoint(path, config=config_to_dict(cfg), state_dict=model.state_dict(),
                           meta={"val_ids": val, "train_ids": train, "step": 0})


@functools.cache
def toy_setup() -> dict:
    """Toy corpus + checkpoint + built index, once per process: {"corpus", "ckpt", "index", "registry"}."""
    root = Path(tempfile.mkdtemp(prefix="sapphire_toy_"))
    registry = toy_registry()
    corpus = write_toy_corpus(root / "corpus")
    ckpt = toy_checkpoint(root / "toy.ckpt", registry)
    from sapphire_core.index.builder import build_index

    build_index(ckpt, corpus, root / "index", registry=registry, chunk_size=5, device="cpu", extras=False)
    return {"root": root, "corpus": corpus, "ckpt": ckpt, "index": root / "index", "registry": registry}


def chunk_ids(ids, chunk_size: int) -> list[tuple[str, ...]]:
    """The track ids of each chunk ``build_index`` cuts tracks with these ``ids`` (in order) into."""
    from types import SimpleNamespace

    from sapphire_core.index.chunking import content_chunks

    return [tuple(t.id for t in chunk) for chunk in content_chunks([SimpleNamespace(id=i) for i in ids], chunk_size)]


def corpus_chunk_ids(corpus: Path, chunk_size: int) -> list[tuple[str, ...]]:
    """:func:`chunk_ids` of a corpus folder's tracks."""
    from sapphire_core.data import Corpus

    return chunk_ids([t.id for t in Corpus(corpus).tracks], chunk_size)


def toy_engine_with_extra(folder: Path, plugin, extra: str):
    """A copy of the toy index in ``folder`` with one of ``plugin``'s index extras built, opened with the
    toy plugin and ``plugin`` (a plugin query mode's tests: the engine, the CLI table, the web API)."""
    import shutil

    from sapphire_core.data import Track
    from sapphire_core.index.extras import build_extras, selected_extras
    from sapphire_core.plugins import build_registry, get_plugin_manager
    from sapphire_core.retrieval import SearchEngine

    shutil.copytree(toy_setup()["index"], folder)
    registry = build_registry(get_plugin_manager(load_entrypoints=False, plugins=[ToyPlugin(), plugin]))
    eng = SearchEngine.open(folder, registry=registry)
    tracks = [Track.from_json({**m, "audio": m["audio_path"]}, Path("/")) for m in eng.folder.metadata.values()]
    build_extras(selected_extras(registry, [extra]), tracks, folder)
    return SearchEngine.open(folder, registry=registry)


def search_table(results) -> str:
    """What ``sapphire search`` prints for ``results``, 240 columns wide: one line per explanation, so a
    phrase is never folded across lines."""
    from sapphire_core.cli.common import console
    from sapphire_core.cli.search_cmd import render_results

    width = console.width
    try:
        console.width = 240
        with console.capture() as cap:
            render_results(results)
    finally:
        console.width = width
    return cap.get()


# ---------------------------------------------------------------- the real chain on the demo corpus

@functools.cache
def demo_trained() -> dict:
    """The demo corpus and a model trained on it with configs/default.yaml by the real trainer, once per
    process. The run folder is the one ``make demo`` uses (``<corpus>/runs/default``), so a finished
    demo run is reused by the tests and the other way round."""
    from sapphire_core.config import load_config
    from sapphire_core.corpus import ensure_demo_corpus
    from sapphire_core.evaluation.runs import ensure_trained

    config = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    corpus = ensure_demo_corpus()
    run_dir = Path(corpus) / "runs" / load_config(config).name
    ckpt = ensure_trained(config, corpus, run_dir)
    return {"corpus": Path(corpus), "ckpt": ckpt, "run": run_dir, "config": config}


class CountingExtra(IndexExtra):
    """An index extra of the ids it was built from, counting its builds (tests of plugin query modes)."""

    name = "counting"
    builds = 0

    def build(self, tracks, folder, *, on_progress=None):
        type(self).builds += 1
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ids.txt").write_text("\n".join(t.id for t in tracks))
        return len(tracks)

    def load(self, folder):
        return (folder / "ids.txt").read_text().split()
