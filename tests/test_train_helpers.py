"""Toy components and a toy corpus for the training tests (also importable by their subprocesses).

The toy modality is deliberately small so that training tests run in seconds on two CPU cores:
``toy_chroma`` turns audio into a 12-bin pitch-class sequence, ``toy_conv`` encodes it, and
``toy_text`` is a frozen hashed bag-of-words text tower. The contract tests below check them
like any plugin's components.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from torch import nn

from sapphire_core import hookimpl
from sapphire_core.collate import time_mask
from sapphire_core.encoder import EncoderConfig, Encoder, TextEncoder
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.testing import ModalityContract, signals

SR = 8000


class ToyChroma(FeatureExtractor):
    """Log pitch-class energy per 64 ms frame, ``(12, T)``."""

    name, modality, version, sample_rate = "toy_chroma", "toy", "1", SR

    class Config(FeatureExtractor.Config):
        frame: int = 512

    def output_shapes(self):
        return {"chroma": (12, None)}

    def extract(self, audio, track):
        n = self.config.frame
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, (0, n)), n)[:: n // 2]
        spec = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
        freqs = np.fft.rfftfreq(n, 1 / SR)
        ok = (freqs > 80) & (freqs < 2000)
        pc = np.round(12 * np.log2(freqs[ok] / 440.0)).astype(int) % 12
        chroma = np.zeros((12, spec.shape[0]), np.float32)
        for k in range(12):
            chroma[k] = spec[:, ok][:, pc == k].sum(axis=1)
        return {"chroma": np.log1p(chroma / (chroma.max() + 1e-9) * 100).astype(np.float32)}


class ToyConv(Encoder):
    """Conv1d over the chroma sequence, masked mean + max pooling, linear head."""

    name, modality, requires = "toy_conv", "toy", ("toy_chroma",)

    class Config(EncoderConfig):
        output_dim: int = 32
        channels: int = 32

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        c = self.config.channels
        self.conv = nn.Sequential(nn.Conv1d(12, c, 3, padding=1), nn.ReLU(), nn.Conv1d(c, c, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(2 * c, self.output_dim)

    def forward(self, features):
        x = features["toy_chroma.chroma"]
        mask = time_mask(features, "toy_chroma.chroma")[:, None, :].to(x.dtype)
        h = self.conv(x)
        mean = (h * mask).sum(-1) / mask.sum(-1).clamp_min(1)
        mx = (h + (mask - 1) * 1e4).amax(-1)
        return self.head(torch.cat([mean, mx], dim=-1))

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        return {"toy_chroma.chroma": torch.rand(batch_size, 12, 20, generator=g)}


class ToyText(TextEncoder):
    """Hashed bag of words (256 buckets) through a linear layer; frozen unless ``trainable_layers > 0``."""

    name = "toy_text"

    class Config(EncoderConfig):
        output_dim: int = 48
        trainable_layers: int = Field(0, ge=0)

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        g = torch.Generator().manual_seed(1234)  # fixed "pretrained" weights, whatever the global seed
        self.proj = nn.Linear(256, self.output_dim)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.output_dim, 256, generator=g) / 16)
            self.proj.bias.zero_()
        self.proj.requires_grad_(self.config.trainable_layers > 0)

    def tokenize(self, texts):
        out = torch.zeros(len(texts), 256)
        for i, text in enumerate(texts):
            for w in text.lower().replace(".", " ").replace(",", " ").split():
                out[i, zlib.crc32(w.encode()) % 256] += 1.0
        return {"bow": out}

    def forward(self, features):
        return self.proj(features["bow"])


@hookimpl
def register_extractors(register):
    register(ToyChroma)


@hookimpl
def register_encoders(register):
    register(ToyConv)
    register(ToyText)


def toy_registry():
    """The core's components plus the toy ones, without entry points."""
    import sys

    from sapphire_core.plugins import build_registry, get_plugin_manager

    return build_registry(get_plugin_manager(load_entrypoints=False, plugins=[sys.modules[__name__]]))


ERAS = ["baroque", "classical", "romantic", "folk"]
FAMILIES = {1: "keyboard", 3: "strings", 6: "brass"}


def make_toy_corpus(root: Path, *, works: int = 8, variants: int = 3, seed: int = 0) -> Path:
    """Works are random 8-note melodies; variants change tempo, timbre (harmonics) and transpose by +-1."""
    root = Path(root)
    if (root / "tracks.jsonl").is_file():
        return root
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for w in range(works):
        pitches = list(60 + rng.integers(0, 12, size=8))
        mode = "major" if w % 2 else "minor"
        for v in range(variants):
            harmonics = [1, 3, 6][v % 3]
            tempo = float(rng.uniform(0.8, 1.25))
            transpose = int(rng.integers(-1, 2))
            y = signals.melody(pitches, durations=0.22, sr=SR, tempo_scale=tempo, harmonics=harmonics,
                               transpose=transpose)
            y = (y + rng.normal(0, 0.01, y.shape)).astype(np.float32)
            tid = f"w{w}__v{v}"
            signals.write_wav(root / "audio" / f"{tid}.wav", y, SR)
            lines.append({"id": tid, "audio": f"audio/{tid}.wav", "work_id": f"w{w}", "variant_id": f"v{v}",
                          "era": ERAS[w % 4], "mode": mode, "key": f"C {mode}", "form": "dance" if w % 3 else "song",
                          "composer": f"composer {w % 3}", "tempo_bpm": round(120 / tempo, 1),
                          "instrument_family": FAMILIES[harmonics], "instrumentation": [FAMILIES[harmonics]],
                          "meter": "3/4" if w % 2 else "4/4", "duration": len(y) / SR})
    (root / "tracks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def toy_config(**training) -> dict:
    """A small modality set over the toy components (plain data; validate with the toy registry)."""
    return {
        "name": "toy",
        "modalities": {"toy": {"encoder": {"name": "toy_conv", "output_dim": 32}}},
        "fusion": {"name": "concat_mlp", "output_dim": 32, "hidden": 64, "dropout": 0.0,
                   "subspaces": {"era": 8, "mode": 4}},
        "text": {"name": "toy_text"},
        "losses": [{"name": "infonce"}, {"name": "version_contrastive"}],
        "training": {"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2, "crop_seconds": 1.0,
                     "validation_fraction": 0.25, "descriptions_per_track": 2, "seed": 0, **training},
    }


def validated(data: dict, registry=None):
    from sapphire_core.config import validate_config

    return validate_config(data, registry or toy_registry())


def train_toy(data: dict, corpus: Path, out: Path, registry, **kw):
    """:func:`sapphire_core.training.train` of the plain config ``data`` on the CPU (``kw``: its options)."""
    from sapphire_core.training import train

    return train(validated(data, registry), corpus, out, registry=registry, device="cpu", **kw)


def metrics_without_timings(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` without each step's wall-clock times, the only values that are not
    a function of the seed (to compare a resumed run with an uninterrupted one)."""
    return [{k: v for k, v in json.loads(x).items() if k not in ("data_s", "step_s")}
            for x in Path(path).read_text().splitlines()]


# ---------------------------------------------------------------- the toys obey the shared contract


class TestToyModality(ModalityContract):
    extractor_cls = ToyChroma
    encoder_cls = ToyConv

    def make_audio(self, sr):
        return signals.melody([60, 62, 64, 65, 67], durations=0.3, sr=sr)


def test_toy_chroma_finds_the_pitch_class():
    feats = ToyChroma().extract(signals.sine(440.0, sr=SR, seconds=1.0), None)["chroma"]
    assert int(np.argmax(feats.mean(axis=1))) == 0  # A = pitch class 0 relative to 440 Hz


def test_toy_text_is_frozen_by_default():
    assert not any(p.requires_grad for p in ToyText().parameters())
    assert all(p.requires_grad for p in ToyText(trainable_layers=1).parameters())


def _main(argv: list[str]) -> None:
    """Subprocess entry for the kill and DDP tests: ``python test_train_helpers.py '<json>'``.

    JSON keys: corpus, out, training (overrides of :func:`toy_config`), resume, sleep (seconds per step),
    checkpoint_every.
    """
    import os
    import time

    from sapphire_core.training import train

    args = json.loads(argv[0])
    torch.set_num_threads(1)
    registry = toy_registry()
    cfg = validated(toy_config(**args.get("training", {})), registry)
    sleep = float(args.get("sleep", 0.0))
    result = train(cfg, args["corpus"], args["out"], registry=registry, device="cpu",
                   resume=bool(args.get("resume")), checkpoint_every=int(args.get("checkpoint_every", 0)),
                   evaluate_untrained=False, on_step=(lambda r: time.sleep(sleep)) if sleep else None)
    print(json.dumps({"rank": int(os.environ.get("RANK", 0)), "global_step": result.metrics["global_step"]}))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
