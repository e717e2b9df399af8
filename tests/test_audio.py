"""Audio decoding and every bad-input path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sapphire_core.audio import audio_info, load_audio
from sapphire_core.errors import AudioDecodeError, EmptyAudioError, SampleRateError, SilentAudioError
from sapphire_core.testing.signals import sine


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_decodes_formats_to_mono_at_target_rate(tmp_path, fmt):
    y = sine(440, sr=44100, seconds=1.0)
    stereo = np.stack([y, 0.5 * y], axis=1)
    path = tmp_path / f"x.{fmt}"
    sf.write(path, stereo, 44100)
    out = load_audio(path, sr=22050)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - 22050) <= 64
    # the downmix keeps the 440 Hz tone
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 22050 / out.size - 440) < 3


def test_decodes_mp3(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, sine(440, sr=22050, seconds=1.0), 22050)
    mp3 = tmp_path / "x.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    out = load_audio(mp3, sr=16000)
    assert 15000 < out.size < 17500


def test_only_files_mpg123_may_decode_take_fd_2(tmp_path, monkeypatch):
    """While a decoder holds fd 2, another thread's stderr (a web server's log) lands in the debug log:
    only MP3 content (by name or by its first bytes) is decoded that way; WAV and FLAC leave fd 2 alone."""
    wav, flac, named_wav = tmp_path / "x.wav", tmp_path / "x.flac", tmp_path / "mp3-in-disguise.wav"
    y = sine(330, sr=22050, seconds=1.0)
    sf.write(wav, y, 22050)
    sf.write(flac, y, 22050)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-f", "mp3", str(named_wav)], check=True)
    original = os.readlink("/proc/self/fd/2")
    seen = {}
    real_read = sf.SoundFile.read

    def spying_read(self, *args, **kwargs):
        seen[Path(self.name).name] = os.readlink("/proc/self/fd/2")
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spying_read)
    for path in (wav, flac, named_wav):
        load_audio(path, sr=22050)
    assert seen["x.wav"] == seen["x.flac"] == original
    assert seen["mp3-in-disguise.wav"] != original
    assert os.readlink("/proc/self/fd/2") == original


def test_mp3_decoder_notes_never_reach_the_terminal(tmp_path, capfd, caplog):
    """mpg123 prints its own notes on file descriptor 2 for damaged MP3s; the user sees only the one-line
    reason (or warning), and the notes go to the debug log."""
    from sapphire_core.audio import sample_warnings

    wav = tmp_path / "x.wav"
    sf.write(wav, sine(330, sr=22050, seconds=2.0), 22050)
    cut = tmp_path / "cut.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(cut)], check=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    tag = tmp_path / "tag.mp3"
    tag.write_bytes(b"ID3" + bytes(range(256)) * 20)  # an ID3v2 header of major version 0
    capfd.readouterr()
    with caplog.at_level("DEBUG", logger="sapphire_core.audio"):
        y = load_audio(cut, sr=22050)
        assert sample_warnings(y, sr=22050, declared_seconds=audio_info(cut)[1])[0].startswith("truncated")
        with pytest.raises(AudioDecodeError, match=r"tag\.mp3: not a readable audio file"):
            load_audio(tag, sr=22050)
    assert capfd.readouterr().err == ""
    assert "Xing stream size" in caplog.text and "ID3v2" in caplog.text
    print("fd 2 works again", file=sys.stderr, flush=True)
    assert capfd.readouterr().err == "fd 2 works again\n"


def test_excerpt_offset_and_duration(tmp_path):
    sr = 8000
    y = np.concatenate([np.full(sr, 0.1), np.full(sr, 0.5)]).astype(np.float32)
    path = tmp_path / "steps.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    out = load_audio(path, sr=sr, offset=1.0, duration=0.5)
    assert out.size == sr // 2
    np.testing.assert_allclose(out, 0.5, atol=1e-6)


def test_streaming_resample_matches_whole_file(tmp_path):
    import soxr

    sr = 44100
    y = sine(1000, sr=sr, seconds=70.0)  # longer than one 30 s block
    path = tmp_path / "long.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    out = load_audio(path, sr=22050)
    ref = soxr.resample(y, sr, 22050)
    assert abs(out.size - ref.size) <= 1
    n = min(out.size, ref.size)
    assert np.max(np.abs(out[:n] - ref[:n])) < 1e-3


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match=r"nope\.wav: file not found"):
        load_audio(tmp_path / "nope.wav", sr=22050)


def test_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio")
    with pytest.raises(AudioDecodeError, match=r"notes\.wav: not a readable audio file"):
        load_audio(path, sr=22050)


@pytest.mark.parametrize(("name", "samples", "error", "message"), [
    ("empty.wav", 0, EmptyAudioError, r"empty\.wav: holds no audio"),
    ("silence.wav", 22050, SilentAudioError, r"silence\.wav: is digital silence"),
])
def test_empty_and_silent(tmp_path, name, samples, error, message):
    path = tmp_path / name
    sf.write(path, np.zeros(samples, np.float32), 22050)
    with pytest.raises(error, match=message):
        load_audio(path, sr=22050)


def test_truncated_body_keeps_what_decodes_and_a_cut_header_fails(tmp_path):
    from sapphire_core.audio import audio_info, sample_warnings

    path = tmp_path / "cut.flac"
    sf.write(path, sine(440, sr=22050, seconds=3.0), 22050)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    y = load_audio(path, sr=22050)
    assert 0.5 * 22050 < y.size < 1.5 * 22050  # about the first third
    np.testing.assert_allclose(y[:2205], sine(440, sr=22050, seconds=0.1), atol=1e-3)
    assert sample_warnings(y, sr=22050, declared_seconds=audio_info(path)[1])[0].startswith("truncated: decodes to")
    path.write_bytes(data[:200])  # the header only: nothing decodes
    with pytest.raises(AudioDecodeError, match=r"cut\.flac: decoding failed, the file may be truncated or corrupt"):
        load_audio(path, sr=22050)


def test_silent_allowed_on_request(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050, np.float32), 22050)
    assert load_audio(path, sr=22050, allow_silent=True).size == 22050


def test_nan_samples(tmp_path):
    y = sine(440, sr=8000, seconds=0.5)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 8000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match=r"nan\.wav: decodes to NaN"):
        load_audio(path, sr=8000)


def test_absurd_sample_rate(tmp_path):
    path = tmp_path / "fast.wav"
    sf.write(path, sine(440, sr=8000, seconds=0.1), 1_000_000)
    with pytest.raises(SampleRateError, match=r"fast\.wav: declares a sample rate of 1000000 Hz"):
        load_audio(path, sr=22050)


def test_info(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, sine(440, sr=16000, seconds=2.0), 16000)
    sr, seconds = audio_info(path)
    assert sr == 16000 and abs(seconds - 2.0) < 1e-6


# ---------------------------------------------------------------- input checks (issue 19)

def test_input_check_thresholds_are_the_documented_ones():
    from sapphire_core import audio

    assert audio.MAX_AUDIO_SECONDS == 3 * 3600 and audio.MIN_AUDIO_SECONDS == 0.05
    assert audio.SHORT_AUDIO_SECONDS == 0.5 and audio.CLIP_FRACTION == 0.001 and audio.QUIET_PEAK == 1e-3


@pytest.mark.parametrize(("seconds", "warned"), [(0.49, True), (0.51, False)])
def test_short_file_warning_at_half_a_second(tmp_path, seconds, warned):
    from sapphire_core.audio import file_warnings

    path = tmp_path / "x.wav"
    sf.write(path, sine(440, sr=8000, seconds=seconds), 8000)
    duration, warnings = file_warnings(path)
    assert abs(duration - seconds) < 1e-3
    assert any(w.startswith("short: lasts 0.49 s") for w in warnings) == warned


def test_truncated_wav_body_is_noticed_from_its_header(tmp_path):
    from sapphire_core.audio import file_warnings, wav_declared_seconds

    path = tmp_path / "x.wav"
    sf.write(path, sine(440, sr=8000, seconds=4.0), 8000, subtype="PCM_16")
    assert wav_declared_seconds(path) == pytest.approx(4.0)
    assert file_warnings(path)[1] == []
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 8000 * 2 * 3])  # 3 of the 4 seconds
    assert file_warnings(path)[1] == ["truncated: the header declares 4.00 s but the file holds 3.00 s"]
    assert wav_declared_seconds(tmp_path / "nope.flac") is None


def test_sample_warnings_clipping_and_quiet_thresholds():
    from sapphire_core.audio import sample_warnings

    y = sine(440, sr=8000, seconds=1.0, amplitude=0.5)
    assert sample_warnings(y, sr=8000) == []
    clipped = y.copy()
    clipped[:9] = 1.0  # 9 / 8000 = 0.11 % of samples at full scale: over 0.1 %
    assert sample_warnings(clipped, sr=8000) == ["clipped: 0.1% of samples at full scale (over 0.1%)"]
    clipped[8:9] = 0.5  # 8 / 8000 = 0.1 %: not over
    assert sample_warnings(clipped, sr=8000) == []
    assert sample_warnings(y * 1e-4, sr=8000) == ["near silent: peak -86 dBFS (under -60 dBFS)"]
    assert sample_warnings(y[:4000], sr=8000, declared_seconds=1.0)[0].startswith("truncated: decodes to 0.50 s")


def test_over_three_hours_fails_before_decoding(tmp_path, monkeypatch):
    from sapphire_core import audio

    path = tmp_path / "long.wav"
    sf.write(path, sine(440, sr=8000, seconds=2.0), 8000)
    monkeypatch.setattr(audio, "MAX_AUDIO_SECONDS", 1.0)
    with pytest.raises(AudioDecodeError, match=r"long\.wav: lasts 0\.00 h, over the 0\.000277778 h limit"):
        audio.file_warnings(path)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.mkdir(), "is a folder, not an audio file"),
    (lambda p: p.symlink_to(p), "is a symbolic link loop"),
    (lambda p: p.symlink_to(p.parent / "gone.wav"), "is a symbolic link to a missing file"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("id,title\n1,x\n"), r"not a readable audio file \(it holds text, not audio\)"),
])
def test_unusable_files_get_one_clear_reason(tmp_path, make, message):
    from sapphire_core.errors import AudioError

    path = tmp_path / "x.mp3"
    make(path)
    with pytest.raises(AudioError, match=rf"x\.mp3: {message}"):
        load_audio(path, sr=16000)


def test_blocks_join_to_the_decoded_file_and_check_it_as_a_whole(tmp_path, monkeypatch):
    """``audio_blocks`` streams what ``load_audio`` returns; silence is known (and raised) at the end."""
    from sapphire_core import audio

    path = tmp_path / "tone.flac"
    y = np.concatenate([sine(220.0, sr=44100, seconds=3.0), sine(330.0, sr=44100, seconds=2.5)])
    sf.write(path, np.stack([y, 0.5 * y], axis=1), 44100)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 1.0)
    blocks = list(audio.audio_blocks(path, sr=22050))
    assert len(blocks) >= 5 and max(b.size for b in blocks) <= 1.1 * 22050  # about a second each
    assert np.array_equal(np.concatenate(blocks), load_audio(path, sr=22050))
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(44100, np.float32), 44100)
    with pytest.raises(SilentAudioError, match="digital silence"):
        list(audio.audio_blocks(silent, sr=22050))


def test_decode_fills_one_buffer_and_grows_it_when_the_header_says_less(tmp_path, monkeypatch):
    from sapphire_core import audio

    path = tmp_path / "tone.wav"
    sf.write(path, sine(440.0, sr=22050, seconds=2.0), 22050)
    whole = load_audio(path, sr=22050)
    assert whole.base is None and whole.size == 44100  # one array of its own size, not a view of a join
    monkeypatch.setattr(audio, "audio_info", lambda p: (22050, 0.3))  # an under-declared length (e.g. VBR MP3)
    assert np.array_equal(load_audio(path, sr=22050), whole)
