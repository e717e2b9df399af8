"""The per-track context: audio decoded once per rate, intermediates shared by a track's extractors, none kept."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from sapphire_core.context import TrackContext, current_context, shared
from sapphire_core.data import Track
from sapphire_core.extraction import extract_track
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.testing import signals

CALLS: list[str] = []


def _spectrum(audio):
    CALLS.append("spectrum")
    return np.abs(np.fft.rfft(audio))


class Peak(FeatureExtractor):
    """Reads the shared spectrum through the context it is given."""

    name, modality, sample_rate = "peak", "toy", 8000

    def output_shapes(self):
        return {"bin": (1,)}

    def extract(self, audio, track, *, context=None):
        assert context is current_context() and context.track is track
        spec = context.shared(audio, "spectrum", lambda: _spectrum(audio))
        return {"bin": np.array([np.argmax(spec)], np.float32)}


class Energy(FeatureExtractor):
    """Reaches the same spectrum through a helper (no context argument)."""

    name, modality, sample_rate = "energy", "toy", 8000

    def output_shapes(self):
        return {"total": (1,)}

    def extract(self, audio, track):
        return {"total": np.array([shared(audio, "spectrum", lambda: _spectrum(audio)).sum()], np.float32)}


def test_extractors_of_a_track_share_one_context(tmp_path, monkeypatch):
    path = tmp_path / "a.wav"
    sf.write(path, signals.sine(440.0, sr=8000, seconds=0.5), 8000)
    decoded = []
    import sapphire_core.audio

    real = sapphire_core.audio.load_audio
    monkeypatch.setattr(sapphire_core.audio, "load_audio", lambda p, sr: decoded.append(sr) or real(p, sr=sr))
    CALLS.clear()
    feats, _ = extract_track(Track(id="a", audio=path), [Peak(), Energy()])
    assert CALLS == ["spectrum"] and decoded == [8000]  # computed once, decoded once
    assert feats["peak"]["bin"][0] == round(440 * len(real(path, sr=8000)) / 8000)
    # outside an extraction nothing is shared or kept: results never depend on what ran before
    assert current_context() is None
    Energy().extract(real(path, sr=8000), None)
    assert CALLS == ["spectrum", "spectrum"]


def test_context_keeps_the_latest_content_per_slot():
    ctx = TrackContext()
    a, b = np.zeros(10, np.float32), np.ones(10, np.float32)
    assert ctx.shared(a, "k", lambda: 1) == 1
    assert ctx.shared(b, "k", lambda: 2, slot="segment") == 2  # another slot leaves the track's results
    assert ctx.shared(a, "k", lambda: 3) == 1
    assert ctx.shared(b, "k", lambda: 4) == 4  # new content in the slot drops the old
    assert ctx.shared(a, "k", lambda: 5) == 5


class Peak16k(Peak):
    """The same feature at another rate, run after the 8 kHz extractors."""

    name, sample_rate = "peak16k", 16000


def test_each_rate_is_released_after_its_last_extractor(tmp_path, monkeypatch):
    """A long track holds one rate's samples at a time: 8 kHz is dropped before 16 kHz is decoded."""
    import weakref

    import sapphire_core.audio

    path = tmp_path / "a.wav"
    sf.write(path, signals.sine(440.0, sr=16000, seconds=0.5), 16000)
    real = sapphire_core.audio.load_audio
    alive_at_decode: list[list[int]] = []
    refs: dict[int, weakref.ref] = {}

    def load(p, sr):
        alive_at_decode.append(sorted(r for r, ref in refs.items() if ref() is not None))
        y = real(p, sr=sr)
        refs[sr] = weakref.ref(y)
        return y

    monkeypatch.setattr(sapphire_core.audio, "load_audio", load)
    feats, _ = extract_track(Track(id="a", audio=path), [Peak(), Energy(), Peak16k()])
    assert alive_at_decode == [[], []]  # the 8 kHz samples (and the spectrum computed from them) were gone
    assert feats["peak16k"]["bin"][0] == round(440 * 8000 / 16000)
    # a caller's own context keeps its samples for the caller
    ctx = TrackContext(Track(id="a", audio=path))
    extract_track(ctx.track, [Peak(), Peak16k()], context=ctx)
    decodes = len(alive_at_decode)
    assert ctx.audio(8000) is not None and len(alive_at_decode) == decodes == 4  # not decoded again


def test_release_drops_the_samples_and_what_was_computed_from_them():
    ctx = TrackContext()
    a = np.arange(10, dtype=np.float32)
    ctx._decoded[8000] = a
    assert ctx.shared(a, "k", lambda: 1) == 1
    ctx.release(8000)
    assert 8000 not in ctx._decoded and ctx.shared(a, "k", lambda: 2) == 2
    ctx.release(22050)  # a rate never decoded: nothing to do
