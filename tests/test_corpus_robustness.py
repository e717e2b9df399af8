"""The robustness set: degraded excerpts of recordings, each with a known effect, reproducible."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from sapphire_core.corpus.robustness import DEGRADATIONS, SAMPLE_RATE, build_robustness_set
from sapphire_core.errors import CorpusError


def _tone_track(path, freq, seconds=40.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    # a steady tone with a 2 Hz tremolo: pitch and tempo are both measurable
    y = 0.5 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2.0 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SAMPLE_RATE)


def _peak_hz(y):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)[np.argmax(spec)]


@pytest.fixture(scope="module")
def robust(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    _tone_track(root / "src" / "game" / "music" / "a.wav", 440.0)
    _tone_track(root / "src" / "game" / "music" / "b.wav", 330.0)
    _tone_track(root / "src" / "game" / "music" / "short.wav", 440.0, seconds=8.0)
    rep = build_robustness_set([root / "src"], root / "out", seconds=10.0, log=lambda m: None)
    return root, rep


def test_every_track_gets_every_degradation(robust):
    root, rep = robust
    assert rep["tracks"] == 2 and rep["queries"] == 2 * len(DEGRADATIONS)
    assert [s["reason"] for s in rep["skipped"]] == ["8.0 s is shorter than the excerpt and margins"]
    queries = [json.loads(x) for x in (root / "out" / "queries.jsonl").read_text().splitlines()]
    assert {q["kind"] for q in queries} == {"copy"}
    assert all(q["source_track"] == q["work_id"] and (root / "out" / q["audio"]).is_file() for q in queries)
    assert {q["source_track"] for q in queries} == {"game-music-a", "game-music-b"}


def test_degradations_do_what_they_say(robust):
    root, _ = robust
    read = lambda name: sf.read(root / "out" / "copies" / f"game-music-a__{name}{DEGRADATIONS[name][1]}",
                                dtype="float32")[0]
    clean = read("clean")
    assert len(clean) == 10 * SAMPLE_RATE and abs(_peak_hz(clean) - 440) < 3
    assert abs(_peak_hz(read("pitch+1")) - 440 * 2 ** (1 / 12)) < 4
    assert abs(_peak_hz(read("pitch-1")) - 440 * 2 ** (-1 / 12)) < 4
    assert len(read("stretch1.1")) == pytest.approx(11 * SAMPLE_RATE, rel=0.01)
    assert len(read("stretch0.9")) == pytest.approx(9 * SAMPLE_RATE, rel=0.01)
    noise = read("noise20db")[: len(clean)] - clean
    snr = 10 * np.log10(np.mean(clean ** 2) / np.mean(noise ** 2))
    assert 19.0 < snr < 21.0
    mp3 = read("mp3")
    assert abs(_peak_hz(mp3) - 440) < 3 and not np.allclose(mp3[: len(clean)], clean, atol=1e-4)


def test_rebuilding_changes_nothing(robust, tmp_path):
    root, _ = robust

    def digest(folder):
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "robustness_report.json"}

    build_robustness_set([root / "src"], tmp_path / "again", seconds=10.0, log=lambda m: None)
    assert digest(tmp_path / "again") == digest(root / "out")


def test_bad_sources_say_what_is_wrong(tmp_path):
    with pytest.raises(CorpusError, match="--source .*nowhere: no such file or folder"):
        build_robustness_set([tmp_path / "nowhere"], tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no audio files"):
        build_robustness_set([tmp_path / "empty"], tmp_path / "o")
    with pytest.raises(CorpusError, match="unknown degradation 'reverb'; choose from clean"):
        build_robustness_set([tmp_path / "empty"], tmp_path / "o", degradations=("reverb",))
