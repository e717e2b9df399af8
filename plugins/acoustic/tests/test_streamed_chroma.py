"""Streamed chroma (the ``chroma_sequence`` extra's path) against the whole-track computation."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.testing.signals import chord, write_wav

from sapphire_acoustic.alignment import chroma_sequence, file_chroma_sequence
from sapphire_acoustic.chunking import streamed_frames
from sapphire_acoustic.tonal import chroma_and_cens, stream_chroma_and_cens

SR = 22050


def _progression(seconds_each: float, roots=(60, 65, 67, 62, 57, 64)) -> np.ndarray:
    return np.concatenate([chord([r, r + 4, r + 7], sr=SR, seconds=seconds_each) for r in roots]).astype(np.float32)


def _blocks(audio: np.ndarray, size: int):
    return (audio[i:i + size] for i in range(0, len(audio), size))


def _windowed_sums(hop: int, margin: int):
    """Frame k = sum of the samples within ``margin`` of ``k * hop`` (integer-valued: exact in any order)."""
    def fn(seg):
        csum = np.concatenate([[0.0], np.cumsum(seg, dtype=np.float64)])
        centres = np.arange(1 + len(seg) // hop) * hop
        return csum[np.clip(centres + margin + 1, 0, len(seg))] - csum[np.clip(centres - margin, 0, len(seg))]
    return lambda head: fn


@pytest.mark.parametrize("n, block", [(50, 7), (1000, 37), (1001, 1001), (5003, 64), (5003, 5003)])
def test_streamed_frames_stitch_exactly(n, block):
    hop, margin = 4, 10
    audio = np.random.default_rng(n).integers(-8, 8, n).astype(np.float32)
    whole = _windowed_sums(hop, margin)(audio)(audio)
    # chunk_seconds * sr = 100 samples = 25 frames per segment: long inputs span many segments and blocks.
    got = streamed_frames(_blocks(audio, block), _windowed_sums(hop, margin), hop=hop, margin=margin, sr=100,
                          chunk_seconds=1.0)
    np.testing.assert_array_equal(got, whole)


def test_streamed_chroma_matches_whole_track_within_rounding():
    audio = _progression(4.0)  # 24 s in 6 s segments: several cuts, none where chunked_frames cuts
    for backend in ("torch", "librosa"):
        whole = chroma_and_cens(audio, backend=backend, chunk_seconds=6.0)
        streamed = stream_chroma_and_cens(_blocks(audio, 30_011), backend=backend, chunk_seconds=6.0)
        for w, s in zip(whole, streamed):
            assert s.shape == w.shape
            np.testing.assert_allclose(s, w, atol=1e-4)
        # and both agree with one unchunked call (the chunking is exact, not only self-consistent)
        _, cens = chroma_and_cens(audio, backend=backend, chunk_seconds=600.0)
        np.testing.assert_allclose(streamed[1], cens, atol=1e-4)


def test_file_chroma_sequence_is_the_whole_track_sequence(tmp_path):
    path = tmp_path / "progression.wav"
    write_wav(path, _progression(3.0), SR)  # 18 s: one chunk, so bit-identical
    from sapphire_core.audio import load_audio

    np.testing.assert_array_equal(file_chroma_sequence(path), chroma_sequence(load_audio(path, sr=SR), SR))


def test_file_descriptor_blocks_match_the_whole_track(tmp_path):
    from sapphire_core.audio import load_audio

    from sapphire_acoustic.descriptors import descriptor_blocks, file_descriptor_blocks

    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_wav(short, _progression(3.0), SR)  # one chunk: bit-identical
    got, want = file_descriptor_blocks(short), descriptor_blocks(load_audio(short, sr=SR), SR)
    for block in want:
        np.testing.assert_array_equal(got[block], want[block], err_msg=block)
    # 150 s: the stream cuts 60 s segments where the whole-track path cuts three equal ones
    write_wav(long, _progression(25.0), SR)
    got, want = file_descriptor_blocks(long), descriptor_blocks(load_audio(long, sr=SR), SR)
    for block in want:
        np.testing.assert_allclose(got[block], want[block], rtol=1e-4, atol=1e-4, err_msg=block)
