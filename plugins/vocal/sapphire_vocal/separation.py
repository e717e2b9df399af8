"""Lead (vocal) stem separation behind a small interface, with an offline default.

The default, :class:`RepetSimSeparator`, needs no weights: harmonic/percussive separation
(Fitzgerald, "Harmonic/percussive separation using median filtering", DAFx 2010) drops drums,
then a REPET-SIM soft mask (Rafii & Pardo, "Music/voice separation using the similarity matrix",
ISMIR 2012) keeps what does *not* repeat across similar frames: the accompaniment is estimated
as the median of each frame's nearest neighbours (cosine, at least 2 s away) and the lead is the
soft-masked remainder, as in librosa's "Vocal separation" example.

A stronger separator (e.g. a Demucs/Open-Unmix model whose weights exist on disk) plugs in with
:func:`register_separator`; extractors pick one by name through :func:`get_separator`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from sapphire_core.component import ComponentConfig
from sapphire_core.errors import ConfigError


class Separator(ABC):
    """Turns a mix into its lead (vocal / melody) stem.

    Subclasses set ``name`` and a nested ``Config``, and implement :meth:`separate`.
    """

    name: ClassVar[str]

    class Config(ComponentConfig):
        pass

    def __init__(self, **settings: Any) -> None:
        try:
            self.config = self.Config(**settings)
        except Exception as exc:  # pydantic ValidationError -> our error with the valid keys
            fields = ", ".join(sorted(self.Config.model_fields)) or "(none)"
            raise ConfigError(f"separator {self.name!r}: {exc}. Valid keys: {fields}") from None

    @abstractmethod
    def separate(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Return the lead stem: mono float32, same length and rate as ``audio``."""


class RepetSimSeparator(Separator):
    """HPSS + REPET-SIM soft mask (librosa's nn_filter vocal separation), no weights needed."""

    name: ClassVar[str] = "repet_sim"

    class Config(ComponentConfig):
        n_fft: int = Field(2048, ge=256)
        hop_length: int = Field(512, ge=64)
        #: Neighbours closer than this (s) are ignored, so a held note is not its own "repetition".
        min_repeat_seconds: float = Field(2.0, gt=0)
        #: Mask margins from the librosa example: background (2) and foreground (10).
        margin_background: float = Field(2.0, gt=0)
        margin_foreground: float = Field(10.0, gt=0)
        #: Run HPSS first and separate only the harmonic part (drums are never the lead).
        hpss: bool = True
        #: Long inputs are processed in blocks of this length (s) to bound the similarity search.
        block_seconds: float = Field(60.0, gt=5)

    def separate(self, audio: np.ndarray, sr: int) -> np.ndarray:
        y = np.asarray(audio, dtype=np.float32).reshape(-1)
        block = int(self.config.block_seconds * sr)
        if len(y) <= block * 1.5:
            return self._separate_block(y, sr)
        out = [self._separate_block(y[i : i + block], sr) for i in range(0, len(y), block)]
        return np.concatenate(out)[: len(y)]

    def _separate_block(self, y: np.ndarray, sr: int) -> np.ndarray:
        import librosa

        cfg = self.config
        n_fft = cfg.n_fft if len(y) >= cfg.n_fft else 1 << max(6, int(np.log2(max(len(y), 64))))
        hop = min(cfg.hop_length, n_fft // 4)
        stft = librosa.stft(y, n_fft=n_fft, hop_length=hop)
        if cfg.hpss:
            stft, _ = librosa.decompose.hpss(stft)
        mag, phase = librosa.magphase(stft)
        width = int(librosa.time_to_frames(cfg.min_repeat_seconds, sr=sr, hop_length=hop))
        if mag.shape[1] > 2 * width + 2:
            background = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)
            background = np.minimum(mag, background)
        else:
            # Too short for any repetition to be found: treat the sustained part as background.
            background = np.minimum(mag, np.median(mag, axis=1, keepdims=True))
        mask = librosa.util.softmask(mag - background, cfg.margin_foreground * background, power=2)
        lead = librosa.istft(mask * mag * phase, hop_length=hop, n_fft=n_fft, length=len(y))
        return lead.astype(np.float32)


class IdentitySeparator(Separator):
    """No separation: the mix itself (for a cappella / monophonic inputs and for tests)."""

    name: ClassVar[str] = "none"

    def separate(self, audio: np.ndarray, sr: int) -> np.ndarray:
        return np.asarray(audio, dtype=np.float32).reshape(-1).copy()


_SEPARATORS: dict[str, type[Separator]] = {RepetSimSeparator.name: RepetSimSeparator,
                                           IdentitySeparator.name: IdentitySeparator}


def register_separator(cls: type[Separator]) -> None:
    """Make a :class:`Separator` subclass selectable by its ``name`` (e.g. from another plugin).

    Raises
    ------
    ConfigError
        When ``cls`` is not a Separator, has no name, or the name is taken by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Separator)) or not getattr(cls, "name", None):
        raise ConfigError(f"{cls!r} is not a named sapphire_vocal.separation.Separator subclass")
    existing = _SEPARATORS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ConfigError(f"separator name {cls.name!r} is already registered by {existing.__module__}")
    _SEPARATORS[cls.name] = cls


def separator_names() -> list[str]:
    """Names accepted by :func:`get_separator`."""
    return sorted(_SEPARATORS)


def get_separator(name: str = "repet_sim", **settings: Any) -> Separator:
    """Build the separator registered as ``name``.

    Raises
    ------
    ConfigError
        For an unknown name (listing the valid ones) or bad settings.
    """
    try:
        cls = _SEPARATORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown separator {name!r}; available: {', '.join(separator_names())} "
            "(register more with sapphire_vocal.separation.register_separator)"
        ) from None
    return cls(**settings)


def separate_lead(audio: np.ndarray, sr: int, *, separator: str = "repet_sim") -> np.ndarray:
    """The lead stem of ``audio`` with the named separator (default: HPSS + REPET-SIM)."""
    return get_separator(separator).separate(audio, sr)
