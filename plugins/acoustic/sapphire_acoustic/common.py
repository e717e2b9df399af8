"""Settings shared by the acoustic extractors (backend, device, framing, chunking)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from sapphire_acoustic.chunking import FrameStream
from sapphire_core.context import shared
from sapphire_core.device import resolve_device as _resolve_device
from sapphire_core.extractor import FeatureExtractor

#: Sample rate and hop of every acoustic extractor: 22.05 kHz, 512 samples (23.2 ms, 43.07 frames/s).
SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_FFT = 2048
#: Context (samples) every extractor's chunks carry on each side: enough for the STFT (n_fft/2), the
#: CQT's longest filter (~0.3 s at C1) and CENS smoothing (20 frames). One value for all extractors,
#: so their chunks are identical and the torch path computes each chunk's STFT once per track
#: (:func:`sapphire_core.context.shared`).
CONTEXT = int(1.5 * SAMPLE_RATE)
#: Default chunk length: tracks up to a minute are one chunk (their STFT, shared by all extractors on the
#: torch path, is ~10 MB); longer ones are split. Larger chunks are slower on a CPU (the STFT leaves the cache).
CHUNK_SECONDS = 60.0


class AcousticConfig(FeatureExtractor.Config):
    """``backend``: ``librosa`` (numpy reference) or ``torch`` (:mod:`sapphire_acoustic.torch_dsp`, batched,
    GPU when ``device`` allows). ``chunk_seconds`` bounds memory on long files (see :mod:`.chunking`)."""

    backend: Literal["librosa", "torch"] = "torch"
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    chunk_seconds: float = Field(CHUNK_SECONDS, gt=5.0)


def resolve_device(name: str) -> torch.device:
    """An acoustic extractor's ``device`` setting as a torch device (:func:`sapphire_core.device.resolve_device`)."""
    return _resolve_device(name)


class AcousticExtractor(FeatureExtractor):
    """Base of the acoustic extractors: mono 22.05 kHz audio and the shared settings (:class:`AcousticConfig`)."""

    modality = "acoustic"
    sample_rate = SAMPLE_RATE
    Config = AcousticConfig


def stft_frames(then, *, device: str, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH):
    """A chunk function for :func:`sapphire_acoustic.chunking.chunked_frames` on the torch path: the
    segment's shared ``|STFT|^2`` (:func:`shared_stft_power`) passed to ``then``, without gradients."""
    dev = resolve_device(device)

    def frame_fn(segment):
        with torch.no_grad():
            return then(shared_stft_power(segment, device=dev, n_fft=n_fft, hop_length=hop_length))

    return frame_fn


def shared_stft_power(segment: np.ndarray, *, device: torch.device, n_fft: int = N_FFT,
                      hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """``|STFT|^2`` of ``segment`` via :func:`sapphire_acoustic.torch_dsp.stft_power`, computed once for all
    extractors that process the same segment of a track (the torch path's shared front end)."""
    from sapphire_acoustic import torch_dsp

    def compute():
        with torch.no_grad():
            return torch_dsp.stft_power(torch.from_numpy(np.ascontiguousarray(segment)).to(device), n_fft=n_fft,
                                        hop_length=hop_length)

    return shared(segment, ("stft_power", n_fft, hop_length, str(device)), compute, slot="segment")


class FramesConsumer:
    """A :class:`~sapphire_core.extractor.BlockConsumer` of an acoustic extractor: its chunk function run over
    the blocks by a :class:`~sapphire_acoustic.chunking.FrameStream` (the segments, margins and frame function
    of the whole-track path), then ``finish(frames, samples)`` turns the joined frames into the features."""

    def __init__(self, make_fn, finish, *, chunk_seconds: float, expected_samples: int | None) -> None:
        self.stream = FrameStream(make_fn, hop=HOP_LENGTH, margin=CONTEXT, sr=SAMPLE_RATE, chunk_seconds=chunk_seconds,
                                  expected_samples=expected_samples)
        self._finish = finish

    def feed(self, block: np.ndarray) -> None:
        self.stream.feed(block)

    def finish(self) -> dict[str, np.ndarray]:
        frames = self.stream.finish()
        return self._finish(frames if isinstance(frames, tuple) else (frames,), self.stream.samples)
