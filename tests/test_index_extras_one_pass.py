"""One decode per track for the index extras (``TrackAudio``, ``build_extras``), against each extra decoding alone."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import sapphire_core.audio as audio_module
from sapphire_core.audio import TrackAudio, audio_blocks
from sapphire_core.data import Track
from sapphire_core.errors import AudioDecodeError, SilentAudioError
from sapphire_core.index.extras import build_extras, compute_entries, selected_extras
from sapphire_core.index_extra import PerTrackExtra
from sapphire_core.plugins import default_registry
from sapphire_core.testing import signals

SHIPPED = ["chroma_sequence", "descriptors", "melody"]


@pytest.fixture
def decodes(monkeypatch) -> list[tuple[str, int]]:
    """``(file name, rate)`` of every decode started through :func:`sapphire_core.audio.audio_blocks`."""
    seen: list[tuple[str, int]] = []
    real = audio_module.audio_blocks

    def counting(path, *, sr, **kwargs):
        seen.append((Path(path).name, sr))
        return real(path, sr=sr, **kwargs)

    monkeypatch.setattr(audio_module, "audio_blocks", counting)
    return seen


def _wav(path: Path, seconds: float, sr: int = 44100, *, silent: bool = False) -> Path:
    y = np.zeros(int(seconds * sr), np.float32) if silent else signals.chord([57, 64, 69], sr=sr, seconds=seconds)
    signals.write_wav(path, y.astype(np.float32), sr)
    return path


def _same_blocks(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def test_track_audio_replays_the_decoders_blocks_to_every_declared_reader(tmp_path, decodes):
    path = _wav(tmp_path / "a.wav", 70.0)  # 44.1 kHz: resampled, more than one 30 s block
    reference = list(audio_blocks(path, sr=22050))
    audio = TrackAudio(path, rates=[22050, 22050, 16000])
    first, second = list(audio.blocks(22050)), list(audio.blocks(22050))
    assert len(reference) > 2 and _same_blocks(first, reference) and _same_blocks(second, reference)
    assert decodes == [("a.wav", 22050)]  # decoded once for both readers of the rate
    assert not first[0].flags.writeable  # one reader cannot change the next one's samples
    list(audio.blocks(16000))  # a rate read once is streamed, not held
    list(audio.blocks(22050))  # a reader the rates did not announce decodes again
    assert decodes == [("a.wav", 22050), ("a.wav", 16000), ("a.wav", 22050)]
    assert audio._held == {}  # the last declared reader let the samples go


def test_track_audio_streams_long_tracks_for_each_reader(tmp_path, decodes):
    path = _wav(tmp_path / "long.wav", 3.0)
    audio = TrackAudio(path, rates=[22050, 22050], hold_seconds=2.0)
    assert _same_blocks(list(audio.blocks(22050)), list(audio.blocks(22050)))
    assert len(decodes) == 2 and audio._held == {}


def test_track_audio_gives_every_reader_the_decoders_error(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    silent = _wav(tmp_path / "silent.wav", 1.0, silent=True)
    for path, error in ((broken, AudioDecodeError), (silent, SilentAudioError)):
        with pytest.raises(error) as direct:
            list(audio_blocks(path, sr=22050))
        audio = TrackAudio(path, rates=[22050, 22050])
        for _ in range(2):
            with pytest.raises(error) as replayed:
                list(audio.blocks(22050))
            assert str(replayed.value) == str(direct.value)


class _Energy(PerTrackExtra):
    """A minimal extra computed from the shared samples: each track's sample count and energy."""

    name = "energy"
    filename = "energy.txt"
    sample_rate = 22050

    def empty(self):
        return {}

    def entries(self, store):
        return set(store)

    def compute(self, track, audio=None):
        blocks = audio.blocks(self.sample_rate) if audio is not None else audio_module.audio_blocks(
            track.audio, sr=self.sample_rate)
        joined = np.concatenate(list(blocks))
        return f"{joined.size} {float(np.square(joined, dtype=np.float64).sum()):.6f}"

    def insert(self, store, track, entry):
        store[track.id] = entry

    def remove(self, store, track_ids):
        for t in track_ids:
            store.pop(t, None)

    def save(self, store, folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.filename).write_text("\n".join(f"{t} {store[t]}" for t in sorted(store)))


class _Power(_Energy):
    name = "power"
    filename = "power.txt"


def test_one_decode_per_track_for_all_extras_and_the_unusable_reason_is_reported(tmp_path, decodes, caplog):
    tracks = [Track(id="a", audio=_wav(tmp_path / "a.wav", 2.0)), Track(id="b", audio=tmp_path / "missing.wav"),
              Track(id="c", audio=_wav(tmp_path / "c.wav", 1.5, sr=22050))]
    extras = {"energy": _Energy(), "power": _Power()}
    with caplog.at_level(logging.WARNING, logger="sapphire_core.index.extras"):
        assert build_extras(extras, tracks, tmp_path / "index") == {"energy": 2, "power": 2}
    assert [name for name, _ in decodes] == ["a.wav", "missing.wav", "missing.wav", "c.wav"]
    # Each extra on its own (the old way: one decode per extra and track) writes the same store.
    for name, extra in extras.items():
        extra.build(tracks, tmp_path / "alone" / name)
        assert (tmp_path / "index" / "extras" / name / extra.filename).read_bytes() == \
            (tmp_path / "alone" / name / extra.filename).read_bytes()
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "'b'" in warned[0] and "energy, power" in warned[0] and "not found" in warned[0]
    entries = compute_entries(extras, tracks[1])
    assert {type(e).__name__ for e in entries.values()} == {"Unusable"} and "missing.wav" in entries["energy"].reason


@pytest.mark.skipif(not all(n in default_registry().names("index_extra") for n in SHIPPED),
                    reason="needs the acoustic and vocal plugins")
def test_shipped_extras_built_in_one_pass_write_the_stores_each_extra_writes_alone(tmp_path, decodes):
    registry = default_registry()
    assert {registry.get("index_extra", n).sample_rate for n in SHIPPED} == {22050}
    tracks = []
    for i, (root, seconds) in enumerate([(60, 4.0), (55, 2.5)]):
        tune = signals.melody([root + d for d in (0, 4, 7, 5, 2, 4, 0, 7)], durations=seconds / 8, sr=44100)
        bed = signals.chord([root - 12, root - 5], sr=44100, seconds=len(tune) / 44100)[: len(tune)]
        path = tmp_path / f"t{i}.wav"
        signals.write_wav(path, (0.5 * tune + 0.2 * bed).astype(np.float32), 44100)
        tracks.append(Track(id=f"t{i}", audio=path, work_id=f"w{i}"))
    assert set(build_extras(selected_extras(registry, SHIPPED), tracks, tmp_path / "one_pass").values()) == {2}
    assert sorted(decodes) == [("t0.wav", 22050), ("t1.wav", 22050)]  # once per track, not once per extra
    for name, extra in selected_extras(registry, SHIPPED).items():
        extra.build(tracks, tmp_path / "alone" / name)  # the extra decoding the files itself
        alone = {p.relative_to(tmp_path / "alone" / name): p.read_bytes()
                 for p in sorted((tmp_path / "alone" / name).rglob("*")) if p.is_file()}
        one = {p.relative_to(tmp_path / "one_pass" / "extras" / name): p.read_bytes()
               for p in sorted((tmp_path / "one_pass" / "extras" / name).rglob("*")) if p.is_file()}
        assert alone and one == alone, f"{name}: the one-pass store differs"
