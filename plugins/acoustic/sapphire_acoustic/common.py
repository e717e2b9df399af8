"""Settings shared by the acoustic extractors (backend, device, framing, chunking)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from sapphire_core.errors import ConfigError
from sapphire_core.extractor import FeatureExtractor

#: Sample rate and hop of every acoustic extractor: 22.05 kHz, 512 samples (23.2 ms, 43.07 frames/s).
SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_FFT = 2048


class AcousticConfig(FeatureExtractor.Config):
    """``backend``: ``librosa`` (numpy reference) or ``torch`` (:mod:`sapphire_acoustic.torch_dsp`, batched,
    GPU when ``device`` allows). ``chunk_seconds`` bounds memory on long files (see :mod:`.chunking`)."""

    backend: Literal["librosa", "torch"] = "torch"
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    chunk_seconds: float = Field(60.0, gt=5.0)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' but no CUDA device is available; valid choices here: auto, cpu. "
                          "Set device: auto to use a GPU only when present.")
    return torch.device(name)
