"""basic-pitch (ONNX, weights from its wheel): notes of FluidSynth-rendered melodies and chords are
recovered, and its top voice is what a melody of a mix is indexed by."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_core.corpus import render
from sapphire_core.errors import PluginError

from sapphire_vocal import basic_pitch, melody

pytestmark = pytest.mark.skipif(not render.fluidsynth_available(), reason="needs fluidsynth + FluidR3 GM")

ODE = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62]
CHORD = (48, 55, 64, 72)


def _render(program: int) -> np.ndarray:
    notes = [render.Note(0.4 * i, 0.38, p) for i, p in enumerate(ODE)]
    notes += [render.Note(6.5, 1.5, p, part=1) for p in CHORD]
    return render.synthesize(notes, [program, program])


def _matches(events, reference, tolerance=0.05):
    """Reference notes (onset, pitch) with a transcribed note of the same pitch starting within
    ``tolerance`` s (the mir_eval onset criterion)."""
    return [any(e.pitch == p and abs(e.start - o) <= tolerance for e in events) for o, p in reference]


@pytest.fixture(scope="module")
def piano():
    return _render(0)


def test_piano_notes_and_chord_are_transcribed(piano):
    events = basic_pitch.transcribe(piano, render.SAMPLE_RATE)
    reference = [(0.4 * i, p) for i, p in enumerate(ODE)] + [(6.5, p) for p in CHORD]
    assert all(_matches(events, reference))
    # Precision: at most one extra note per five (an octave ghost of the chord's bass is allowed).
    assert len(events) <= 1.2 * len(reference)


def test_output_grid_and_shapes(piano):
    post = basic_pitch.posteriorgrams(piano, render.SAMPLE_RATE)
    n = int(np.floor(len(piano) * 86 / render.SAMPLE_RATE))
    assert post["note"].shape == (n, 88) and post["onset"].shape == (n, 88) and post["contour"].shape == (n, 264)
    # One uniform frame grid: the 4th note's onset (1.2 s) peaks at frame 1.2 / FRAME_SECONDS.
    onset = post["onset"][:, 67 - basic_pitch.MIDI_OFFSET]
    frame = int(round(1.2 / basic_pitch.FRAME_SECONDS))
    assert abs(int(np.argmax(onset[frame - 10 : frame + 10])) - 10) <= 2
    # Resampling the input first gives the same activations (soxr inside).
    import soxr

    post16 = basic_pitch.posteriorgrams(soxr.resample(piano, render.SAMPLE_RATE, 16000), 16000)
    assert np.abs(post16["note"][: n - 2] - post["note"][: n - 2]).max() < 0.15


def test_violin_top_voice_is_the_tune():
    y = _render(40)
    tm = melody.track_melody(y, render.SAMPLE_RATE)
    # Pitch classes at the middle of each note (a bowed attack takes a frame or two to speak;
    # matching folds octaves, and the violin's low C4 reads an octave up).
    middles = [int((0.4 * i + 0.2) / melody.FRAME_SECONDS) for i in range(len(ODE))]
    assert np.mean((tm.melody[middles] - np.asarray(ODE)) % 12 == 0) >= 0.9
    assert tm.affinity.ndim == 3 and tm.affinity.shape[1:] == (len(tm.melody), 12)


def test_missing_model_is_a_plugin_error(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PluginError, match="pip install --no-deps basic-pitch==0.4.0"):
        basic_pitch.model_path()


@pytest.mark.parametrize("block", [1000, 40_000, 10**7])
def test_streamed_posteriorgrams_and_melody_equal_the_whole_track(piano, block):
    """Blocks of any size give the same frames as one call, so the index streams long files."""
    y = np.concatenate([piano, piano[:30_001]]).astype(np.float32)  # not a whole number of windows
    whole = basic_pitch.posteriorgrams(y, basic_pitch.SAMPLE_RATE)
    parts = list(basic_pitch.stream_posteriorgrams((y[i:i + block] for i in range(0, len(y), block)),
                                                   outputs=("note", "onset")))
    assert [first for first, _ in parts] == sorted(first for first, _ in parts)
    for key in ("note", "onset"):
        assert np.array_equal(np.concatenate([p[key] for _, p in parts]), whole[key])
    streamed = melody.track_melody_blocks(y[i:i + block] for i in range(0, len(y), block))
    direct = melody.track_melody(y, basic_pitch.SAMPLE_RATE)
    assert np.array_equal(streamed.melody, direct.melody) and np.array_equal(streamed.affinity, direct.affinity)


class _FrameIndexSession:
    """Stands in for the ONNX session: each output frame holds its window's sample offset (in hops), so a
    test can check which samples every kept frame came from without running the network."""

    def run(self, names, feeds):
        batch = next(iter(feeds.values()))[:, :, 0]
        # A window's first non-zero sample tells where it starts; frames step one hop from there.
        first = np.array([float(np.argmax(w != 0)) for w in batch])
        frames = first[:, None] + np.arange(basic_pitch.WINDOW_FRAMES)[None, :] * basic_pitch.FFT_HOP
        widths = {"StatefulPartitionedCall:1": 88, "StatefulPartitionedCall:2": 88, "StatefulPartitionedCall:0": 264}
        return [np.repeat(frames[:, :, None], widths[n], axis=2).astype(np.float32) for n in names]


def test_posteriorgrams_of_a_recording_of_45_minutes(monkeypatch):
    """The frame count (86 per second) is under the hop rate (86.13): an earlier padding sized from it
    fell short of the samples of long tracks (45 minutes, an hour) and failed with a broadcast error."""
    monkeypatch.setattr(basic_pitch, "session", lambda threads=0: _FrameIndexSession())
    y = np.ones(basic_pitch.SAMPLE_RATE * 45 * 60, np.float32)  # 45 minutes
    post = basic_pitch.posteriorgrams(y, basic_pitch.SAMPLE_RATE, backend="onnx")["note"]
    assert post.shape == (int(np.floor(len(y) * 86 / basic_pitch.SAMPLE_RATE)), 88)
    assert np.isfinite(post).all()


# --------------------------------------------------------------------------- the torch port
@pytest.fixture(scope="module")
def quartet():
    """8 s of two voices (violin over cello) and a held chord: a texture the melody is indexed from."""
    notes = [render.Note(0.4 * i, 0.38, p) for i, p in enumerate(ODE)]
    notes += [render.Note(0.8 * i, 0.75, p - 12, part=1) for i, p in enumerate(ODE[::2])]
    notes += [render.Note(6.5, 1.5, p, part=2) for p in CHORD]
    return render.synthesize(notes, [40, 42, 0])


@pytest.mark.parametrize("texture", ["piano", "quartet"])
def test_torch_port_agrees_with_onnxruntime(texture, request):
    """The torch network (the default) against onnxruntime on nmp.onnx (the reference), on rendered
    music: every posteriorgram within 1e-4 (float rounding: 2e-6 to 3e-5 measured), so the same notes
    and the same melody."""
    y = request.getfixturevalue(texture)
    ref = basic_pitch.posteriorgrams(y, render.SAMPLE_RATE, backend="onnx")
    fast = basic_pitch.posteriorgrams(y, render.SAMPLE_RATE, backend="torch")
    for key in ("note", "onset", "contour"):
        assert fast[key].shape == ref[key].shape
        assert np.abs(fast[key] - ref[key]).max() < 1e-4, key
    assert ref["note"].max() > 0.5  # the music is transcribed, not a silent comparison
    got, want = basic_pitch.notes_from_posteriorgrams(fast), basic_pitch.notes_from_posteriorgrams(ref)
    assert [(n.start, n.end, n.pitch) for n in got] == [(n.start, n.end, n.pitch) for n in want]
    assert np.allclose([n.amplitude for n in got], [n.amplitude for n in want], atol=1e-4)
    # The melody asks for the note posteriorgram alone: the onset branch is skipped, same frames.
    note_only = basic_pitch.posteriorgrams(y, render.SAMPLE_RATE, outputs=("note",))["note"]
    assert np.array_equal(note_only, fast["note"])
    a = melody.track_melody(y, render.SAMPLE_RATE, backend="onnx")
    b = melody.track_melody(y, render.SAMPLE_RATE)
    assert np.array_equal(a.melody, b.melody)
    assert np.abs(a.affinity - b.affinity).max() < 1e-3


def test_torch_port_on_windows_of_silence_and_frames_asked_for():
    """A silent window (the normalised log's 0/0 case) and a noise window; a frame range is the
    same frames cut from the whole window's output."""
    from sapphire_vocal.basic_pitch_torch import BasicPitchNet

    rng = np.random.default_rng(0)
    windows = np.stack([np.zeros(basic_pitch.WINDOW_SAMPLES, np.float32),
                        0.1 * rng.standard_normal(basic_pitch.WINDOW_SAMPLES).astype(np.float32)])
    names = [basic_pitch.OUTPUT_NAMES[k] for k in ("note", "contour")]
    ref = basic_pitch.session(1).run(names, {"serving_default_input_2:0": windows[:, :, None]})
    net = BasicPitchNet(basic_pitch.model_path())
    whole = net(windows, ("note", "contour"))
    for key, r in zip(("note", "contour"), ref):
        assert np.abs(whole[key] - r).max() < 1e-4, key
    part = net(windows, ("note", "contour"), frames=(15, 157))
    for key in ("note", "contour"):
        assert np.abs(part[key] - whole[key][:, 15:157]).max() < 1e-5, key


def test_weights_of_another_model_are_a_plugin_error(tmp_path):
    from sapphire_vocal.basic_pitch_torch import basic_pitch_weights

    bad = tmp_path / "other.onnx"
    bad.write_bytes(b"")
    with pytest.raises(PluginError, match="not basic-pitch"):
        basic_pitch_weights(str(bad))
