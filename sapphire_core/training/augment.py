"""Views of a track for training: random crops along time and feature-level augmentations.

Design choice. Augmenting raw audio (noise, gain, pitch shift, time stretch) would mean
re-running every extractor for every view, which is far slower than a training step. So views
are made from the cached features:

- **crop**: the same random time window (as a fraction of the track) of every time-varying
  feature of the audio extractors, so modalities stay aligned even at different frame rates;
- **time stretch**: linear resampling of the time axis by a factor in ``stretch`` (0.9-1.1);
- **gain**: a random level offset (a fraction of each feature's std): a gain change is an offset
  in a log-magnitude representation;
- **noise**: Gaussian noise at a fraction of each feature's std;
- **time mask**: one span of frames replaced by the feature's mean (SpecAugment, Park et al. 2019);
- **pitch shift**: a circular roll of 12-bin pitch-class features (keys containing ``chroma`` or
  ``pitch_class``), which is what transposing the audio does to a chroma vector.

Raw-audio augmentation (audiomentations; never torch-audiomentations, whose torchaudio does
not import here) is available as :func:`augment_audio` for making K pre-augmented renders that
are extracted once into the cache (:func:`render_audio_views`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: Shortest crop in frames, so convolutional encoders always see a usable input.
MIN_CROP_FRAMES = 16


class AugmentSettings(BaseModel):
    """Strength of each feature-level augmentation (0 disables one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stretch: tuple[float, float] = (0.9, 1.1)
    gain: float = Field(0.25, ge=0, description="max level offset, in feature std")
    noise: float = Field(0.05, ge=0, description="noise std, in feature std")
    time_mask: float = Field(0.1, ge=0, lt=1, description="max share of frames masked")
    pitch_shift: int = Field(2, ge=0, description="max semitones of chroma roll")


def _stretch(x: np.ndarray, factor: float) -> np.ndarray:
    t = x.shape[-1]
    new = max(2, int(round(t * factor)))
    if new == t or t < 2:
        return x
    pos = np.linspace(0, t - 1, new)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).astype(x.dtype)
    return x[..., lo] * (1 - w) + x[..., hi] * w


def crop_lengths(features: list[dict[str, np.ndarray]], durations: list[float], time_keys: set[str], *,
                 crop_seconds: float) -> dict[str, int]:
    """Crop length in frames per time-varying key: ``crop_seconds`` times the key's frame rate (median of
    frames / duration over the tracks), at least :data:`MIN_CROP_FRAMES`.

    A fixed length per key (rather than a fraction of each track) makes the crops of all tracks
    long enough equally long, so batches need no padding and the padding-sensitive edges of
    convolutional encoders see the same input in single-process and distributed training.
    """
    rates: dict[str, list[float]] = {}
    for feats, dur in zip(features, durations):
        if dur <= 0:
            continue
        for key, value in feats.items():
            if key in time_keys and np.ndim(value) >= 1:
                rates.setdefault(key, []).append(np.shape(value)[-1] / dur)
    return {key: max(MIN_CROP_FRAMES, int(round(crop_seconds * float(np.median(r))))) for key, r in rates.items()}


def make_view(features: dict[str, np.ndarray], crop_frames: dict[str, int], *, rng: np.random.Generator,
              augment: AugmentSettings | None) -> dict[str, np.ndarray]:
    """One training view of a track's features (a crop, optionally augmented).

    Parameters
    ----------
    features : dict
        ``{"extractor.feature": array}`` of all the track's modalities.
    crop_frames : dict
        Crop length of each time-varying key (:func:`crop_lengths`); other keys pass through unchanged.
        Every key is cut at the same relative position, so modalities stay aligned.
    rng : np.random.Generator
        Seeded by (seed, epoch, sample), so a resumed run makes the same views.
    augment : AugmentSettings or None
        ``None`` for a plain crop.
    """
    start_fraction = rng.uniform(0.0, 1.0)
    stretch = rng.uniform(*augment.stretch) if augment else 1.0
    shift = int(rng.integers(-augment.pitch_shift, augment.pitch_shift + 1)) if augment and augment.pitch_shift else 0
    out: dict[str, np.ndarray] = {}
    for key, value in features.items():
        if key not in crop_frames or value.ndim == 0 or value.shape[-1] < 2:
            out[key] = value
            continue
        x = value.astype(np.float32, copy=False)
        if augment and stretch != 1.0:
            x = _stretch(x, stretch)
        t = x.shape[-1]
        length = min(t, crop_frames[key])
        start = int(start_fraction * (t - length + 1))
        start = min(start, t - length)
        x = np.array(x[..., start:start + length], dtype=np.float32)
        if augment:
            std = float(x.std()) or 1.0
            if augment.gain:
                x += rng.uniform(-augment.gain, augment.gain) * std
            if augment.noise:
                x += rng.normal(0.0, augment.noise * std, size=x.shape).astype(np.float32)
            if augment.time_mask and length > 4:
                width = int(rng.integers(0, max(1, int(augment.time_mask * length)) + 1))
                if width:
                    s = int(rng.integers(0, length - width + 1))
                    x[..., s:s + width] = x.mean(axis=-1, keepdims=True)
            if shift and x.ndim >= 2 and x.shape[0] == 12 and ("chroma" in key or "pitch_class" in key):
                x = np.roll(x, shift, axis=0)
        out[key] = x
    return out


def augment_audio(y: np.ndarray, sr: int, *, seed: int) -> np.ndarray:
    """A raw-audio augmentation (noise, gain, pitch shift, time stretch) with audiomentations.

    Raises
    ------
    ImportError
        With an install hint when audiomentations is missing.
    """
    try:
        import audiomentations as am
    except ImportError as exc:  # pragma: no cover - part of the train extra
        raise ImportError("raw-audio augmentation needs audiomentations: pip install 'sapphire-core[train]'") from exc
    np.random.seed(seed % (2**32))  # audiomentations draws from numpy's global RNG
    chain = am.Compose([
        am.AddGaussianSNR(min_snr_db=20.0, max_snr_db=40.0, p=0.7),
        am.Gain(min_gain_db=-6.0, max_gain_db=6.0, p=0.8),
        am.PitchShift(min_semitones=-2, max_semitones=2, p=0.5),
        am.TimeStretch(min_rate=0.9, max_rate=1.1, leave_length_unchanged=False, p=0.5),
    ])
    out = chain(samples=y.astype(np.float32), sample_rate=sr)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out / peak * 0.99 if peak > 1.0 else out).astype(np.float32)


def render_audio_views(tracks, out_dir: str | Path, *, k: int, seed: int, sr: int = 22050):
    """Write ``k`` augmented renders of each track (``<id>__aug<i>.wav``) and return them as new
    :class:`~sapphire_core.data.Track` objects of the same work; their features are extracted once
    into the cache like any other track. Existing renders are reused."""
    import dataclasses

    import soundfile as sf

    from sapphire_core.audio import load_audio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    views = []
    for t_index, track in enumerate(tracks):
        y = None
        for i in range(k):
            path = out_dir / f"{track.id}__aug{i}.wav"
            if not path.is_file():
                if y is None:
                    y = load_audio(track.audio, sr=sr)
                tmp = path.with_suffix(".tmp.wav")
                sf.write(str(tmp), augment_audio(y, sr, seed=seed * 1_000_003 + t_index * 101 + i), sr)
                tmp.replace(path)
            views.append(dataclasses.replace(track, id=f"{track.id}__aug{i}", audio=path,
                                             work_id=track.work_id or track.id,
                                             metadata={**track.metadata, "augmented_from": track.id}))
    return views
