"""Block-fed extraction of long tracks (the acoustic extractors' ``block_consumer``) against the whole-track path."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.context import TrackContext
from sapphire_core.data import Track
from sapphire_core.extraction import extract_track
from sapphire_core.testing.signals import chord, click_track, write_wav

from sapphire_acoustic.perceptual import PerceptualSpectrum
from sapphire_acoustic.rhythm import Rhythm
from sapphire_acoustic.tonal import Tonal

SR = 22050


def _song(seconds: float) -> np.ndarray:
    """Chords changing every 2 s over a 120 BPM click, with a clipped stretch (an input-check warning)."""
    roots = (60, 65, 67, 62, 57, 64)
    n = int(seconds * SR)
    harmony = np.concatenate([chord([r, r + 4, r + 7], sr=SR, seconds=2.0) for r in roots] * int(seconds // 12 + 1))
    y = 0.4 * harmony[:n] + 0.5 * click_track(120.0, sr=SR, seconds=seconds)[:n]
    y[SR: SR + SR // 10] = 1.0  # 0.1 s at full scale: over the 0.1 % clipped share
    return y.astype(np.float32)


def _extractors(chunk_seconds: float):
    # As configs/base.yaml: tonal on constant-Q chroma (librosa), rhythm on the STFT's (torch).
    return [PerceptualSpectrum(chunk_seconds=chunk_seconds), Tonal(chunk_seconds=chunk_seconds, backend="librosa"),
            Rhythm(chunk_seconds=chunk_seconds)]


def _both_paths(path, chunk_seconds, monkeypatch):
    track = Track(id="song", audio=path)
    whole, whole_result = extract_track(track, _extractors(chunk_seconds), block_fed_seconds=None)

    def no_whole_decode(self, sr):
        raise AssertionError("a block-fed extraction decoded the whole track")

    with monkeypatch.context() as m:
        m.setattr(TrackContext, "audio", no_whole_decode)
        fed, fed_result = extract_track(track, _extractors(chunk_seconds), block_fed_seconds=0.0)
    return whole, whole_result, fed, fed_result


def test_block_fed_extraction_matches_the_whole_track_across_blocks_and_chunks(tmp_path, monkeypatch):
    # 40 s: two 30 s decode blocks, segments of 6 s cut where the whole-track path does not cut.
    path = tmp_path / "song.wav"
    write_wav(path, _song(40.0), SR)
    whole, whole_result, fed, fed_result = _both_paths(path, 6.0, monkeypatch)
    assert list(fed) == list(whole) == ["perceptual_spectrum", "tonal", "rhythm"]
    for name in whole:
        assert sorted(fed[name]) == sorted(whole[name])
        for key, w in whole[name].items():
            f = fed[name][key]
            assert f.shape == w.shape and f.dtype == w.dtype, (name, key)
            # Floating-point rounding of the other segment cuts only (dB values, unit-range chroma and tempogram).
            np.testing.assert_allclose(f, w, rtol=1e-4, atol=1e-3, err_msg=f"{name}.{key}")
    assert fed["rhythm"]["tempo"][0] == whole["rhythm"]["tempo"][0]
    assert whole_result.warnings and fed_result.warnings == whole_result.warnings  # the clipped stretch


def test_block_fed_extraction_is_bit_identical_up_to_one_chunk(tmp_path, monkeypatch):
    path = tmp_path / "song.wav"
    write_wav(path, _song(50.0), SR)  # two decode blocks, one 60 s chunk
    whole, _, fed, _ = _both_paths(path, 60.0, monkeypatch)
    for name in whole:
        for key, w in whole[name].items():
            np.testing.assert_array_equal(fed[name][key], w, err_msg=f"{name}.{key}")


@pytest.mark.parametrize("hint", [None, 10, 10**6])
def test_frame_stream_output_does_not_depend_on_the_length_hint(hint):
    from sapphire_acoustic.chunking import streamed_frames

    audio = np.random.default_rng(0).integers(-8, 8, 5003).astype(np.float32)

    def fn(seg):  # frame k: the sample at k * hop (exact in any segmentation)
        return seg[:: 4][None, : 1 + len(seg) // 4].copy()

    whole = fn(audio)
    blocks = (audio[i:i + 64] for i in range(0, len(audio), 64))
    got = streamed_frames(blocks, lambda head: fn, hop=4, margin=10, sr=100, chunk_seconds=1.0, expected_samples=hint)
    np.testing.assert_array_equal(got, whole)
    assert got.flags.c_contiguous
