"""The corpus builder: determinism per seed, resuming a killed build, held-out exclusion, errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _sigkill import kill_all, marked, marked_env, new_tag, spawned_workers, wait_until_gone  # noqa: E402

from sapphire_core.corpus.build import COMPLETE_MARKER, build_corpus, key_name, tempo_class  # noqa: E402
from sapphire_core.corpus.works import (  # noqa: E402
    WorkRef,
    candidate_works,
    load_heldout,
    normalize_work_path,
)
from sapphire_core.errors import CorpusError  # noqa: E402

# Two short works (a chorale with lyrics, a reel), none held out.
ONLY = ["ryansMammoth/TornadoReel.abc", "bach/bwv10.7.mxl"]


def _digest(folder: Path) -> dict[str, str]:
    """sha256 of every output file (audio, hums, excerpts, jsonl), by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not rel.startswith(".build/") and rel != "build_report.json":
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def reference_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "a"
    report = build_corpus(out, only=ONLY, workers=1, seed=0)
    assert report.works == 2 and report.tracks == 4
    return out


def test_tiny_build_layout(reference_build):
    tracks = [json.loads(x) for x in (reference_build / "tracks.jsonl").read_text().splitlines()]
    assert [t["id"] for t in tracks][:2] == ["bach-bwv10.7__v0", "bach-bwv10.7__v1"]
    chorale = tracks[0]
    assert chorale["lyrics"].startswith("Meine Seel") and chorale["language"] == "de"
    assert chorale["instrument_family"] == "voice" and chorale["era"] == "baroque"
    assert chorale["composer"] == "Johann Sebastian Bach" and chorale["form"] == "chorale"
    reel = next(t for t in tracks if t["work_id"] == "ryansMammoth-TornadoReel")
    assert reel["form"] == "reel" and reel["era"] == "folk" and "lyrics" not in reel
    assert (reference_build / COMPLETE_MARKER).is_file()
    queries = [json.loads(x) for x in (reference_build / "queries.jsonl").read_text().splitlines()]
    assert {q["kind"] for q in queries} == {"hum", "excerpt"}


def test_same_seed_gives_identical_files(reference_build, tmp_path):
    build_corpus(tmp_path / "b", only=ONLY, workers=2, seed=0)
    assert _digest(tmp_path / "b") == _digest(reference_build)


def test_other_seed_gives_other_variants(reference_build, tmp_path):
    build_corpus(tmp_path / "c", only=ONLY[:1], workers=1, seed=1)
    a = {t["id"]: t for t in map(json.loads, (reference_build / "tracks.jsonl").read_text().splitlines())}
    c = [json.loads(x) for x in (tmp_path / "c" / "tracks.jsonl").read_text().splitlines()]
    v1 = next(t for t in c if t["variant_id"] == "v1")
    ref = a[v1["id"]]
    assert (v1["transpose"], v1["tempo_scale"], v1["instrument_plan"]) != (
        ref["transpose"], ref["tempo_scale"], ref["instrument_plan"])
    assert candidate_works("small", seed=0) != candidate_works("small", seed=1)


def test_killed_build_resumes_to_the_same_result(reference_build, tmp_path):
    out = tmp_path / "killed"
    code = ("import sys; from sapphire_core.corpus.build import build_corpus; "
            f"build_corpus(sys.argv[1], only={ONLY!r}, workers=1, seed=0)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], start_new_session=True)
    works = out / ".build" / "works"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if works.is_dir() and any(works.glob("*.json")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / COMPLETE_MARKER).exists()
    assert len(list(works.glob("*.json"))) == 1
    report = build_corpus(out, only=ONLY, workers=1, seed=0)
    assert report.works == 2
    assert _digest(out) == _digest(reference_build)


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs /proc (Linux)")
def test_sigkill_of_a_parallel_build_leaves_no_worker(tmp_path):
    """``corpus build --workers 2`` SIGKILLed while its spawn workers render: they end within 10 s (a
    fluidsynth they had started finishes its one file and exits); before, they rendered on forever."""
    code = ("import sys; from sapphire_core.corpus.build import build_corpus; "
            f"build_corpus(sys.argv[1], only={ONLY!r}, workers=2, seed=0)")
    tag = new_tag()
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out")], env=marked_env(tag))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and len(spawned_workers(tag)) < 2:
            time.sleep(0.05)
        workers = spawned_workers(tag)
        proc.send_signal(signal.SIGKILL)  # the parent only, as the OOM killer would
        assert proc.wait(timeout=30) == -signal.SIGKILL, "the build finished before its workers were seen"
        assert len(workers) == 2
        deadline = time.time() + 10
        while time.time() < deadline and set(workers) & set(marked(tag)):
            time.sleep(0.1)
        assert not set(workers) & set(marked(tag)), "the workers outlived their SIGKILLed parent"
        assert not wait_until_gone(tag, 60.0)
    finally:
        kill_all(marked(tag))


def test_finished_build_is_reused_and_parameters_are_checked(reference_build):
    again = build_corpus(reference_build, only=ONLY, workers=1, seed=0)
    assert again.reused and again.tracks == 4
    with pytest.raises(CorpusError, match="built with"):
        build_corpus(reference_build, only=ONLY, workers=1, seed=5)


def test_heldout_works_never_selected():
    heldout = load_heldout()
    for size in ("small", "medium"):
        refs = candidate_works(size, seed=0)
        assert refs and not any(normalize_work_path(r.path) in heldout for r in refs)
    full = candidate_works("full", seed=0)
    assert not any(normalize_work_path(r.path) in heldout for r in full)
    # Every tune of a held-out multi-tune file is excluded, and editions match (.krn = .mxl).
    assert not any(r.path == "airdsAirs/book3.abc" for r in full)
    assert not any(r.path.startswith("beethoven/opus18no1/movement1") for r in full)
    assert not any(r.path.startswith("bach/bwv190.7") for r in full)
    only_heldout = candidate_works("full", seed=0, include_heldout=True)
    assert only_heldout and all(normalize_work_path(r.path) in heldout for r in only_heldout)
    assert len({r.number for r in only_heldout if r.path == "airdsAirs/book3.abc"}) > 50


def test_only_never_builds_a_heldout_work(tmp_path):
    report = build_corpus(tmp_path / "h", only=["bach/bwv113.8.mxl", "airdsAirs-book3-n401"], workers=1)
    assert report.works == 0 and (tmp_path / "h" / "tracks.jsonl").read_text() == ""
    assert not (tmp_path / "h" / "audio").exists()


def test_work_ids_and_labels():
    assert WorkRef("oneills1850/0001-0050.abc", 7).work_id == "oneills1850-0001-0050-n7"
    assert WorkRef("trecento/PMFC_04-Cara mi donna.xml").work_id == "trecento-PMFC_04-Cara-mi-donna"
    assert normalize_work_path("bach/bwv190.7-inst.mxl") == normalize_work_path("bach/bwv190.7.mxl")
    assert key_name(10, "minor") == ("Bb", "Bb minor")
    assert key_name(-1, "major") == ("B", "B major")
    assert tempo_class(60, "4/4") == "slow" and tempo_class(180, "6/8") == "medium"
    assert tempo_class(200, "4/4") == "fast"


def test_unknown_size_is_rejected():
    with pytest.raises(CorpusError, match="small, medium, full"):
        candidate_works("huge")


def test_ensure_demo_corpus_waits_for_the_lock(tmp_path):
    """A second process blocks on the lock, then finds the finished marker and builds nothing."""
    import fcntl

    from sapphire_core.corpus import DEFAULT_VARIANTS
    from sapphire_core.corpus.build import BuildOptions

    corpus = tmp_path / "demo"
    lock = open(tmp_path / ".demo.lock", "a+")  # noqa: SIM115 - held across the subprocess
    fcntl.flock(lock, fcntl.LOCK_EX)
    code = ("import sys; from sapphire_core.corpus import ensure_demo_corpus; "
            "print(ensure_demo_corpus(sys.argv[1]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(corpus)], stdout=subprocess.PIPE, text=True)
    time.sleep(3.0)
    assert proc.poll() is None, "ensure_demo_corpus did not wait for the lock"
    corpus.mkdir()
    params = BuildOptions(size="small", variants=DEFAULT_VARIANTS, seed=0).key()
    (corpus / COMPLETE_MARKER).write_text(json.dumps({"params": params}))
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and Path(out.strip()) == corpus
    assert not (corpus / ".build").exists()


def test_hum_follows_the_melody_transposed():
    import librosa

    from sapphire_core.corpus.hums import synthesize_hum

    melody = [[i * 0.5, 0.45, p] for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 4)]
    hum = synthesize_hum(melody, seed=3, sr=22050)
    again = synthesize_hum(melody, seed=3, sr=22050)
    assert np.array_equal(hum.audio, again.audio)
    assert 5.0 <= hum.duration <= 16.0 and 0.8 <= hum.tempo_scale <= 1.25
    f0 = librosa.yin(hum.audio, fmin=60, fmax=1000, sr=22050, frame_length=2048)
    rms = librosa.feature.rms(y=hum.audio, frame_length=2048, hop_length=512)[0][: len(f0)]
    sung = librosa.hz_to_midi(f0[: len(rms)][rms > 0.3 * rms.max()])
    assert len(sung) > 50
    # The hummed range is the scale moved by `transpose` (allowing intonation error and vibrato).
    assert np.median(sung) == pytest.approx(np.median([p for _, _, p in melody]) + hum.transpose, abs=2.0)
    assert np.percentile(sung, 95) - np.percentile(sung, 5) == pytest.approx(12, abs=3.5)


def test_stale_demo_corpus_is_removed_but_never_a_user_folder(tmp_path):
    from sapphire_core.corpus import DEFAULT_VARIANTS, _remove_stale
    from sapphire_core.corpus.build import BuildOptions

    want = BuildOptions(size="small", variants=DEFAULT_VARIANTS, seed=0).key()
    stale = tmp_path / "stale"
    (stale / ".build").mkdir(parents=True)
    (stale / ".build" / "params.json").write_text(json.dumps({**want, "format": want["format"] - 1}))
    (stale / COMPLETE_MARKER).write_text("{}")
    _remove_stale(stale, want)
    assert not stale.exists()
    user = tmp_path / "music"
    user.mkdir()
    (user / "tracks.jsonl").write_text("")
    _remove_stale(user, want)
    assert (user / "tracks.jsonl").is_file()


def test_cli_rejects_unknown_size(tmp_path):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    result = CliRunner().invoke(app, ["corpus", "build", "--out", str(tmp_path / "x"), "--size", "huge"])
    assert isinstance(result.exception, CorpusError)
    assert "small, medium, full" in str(result.exception)
    assert not (tmp_path / "x").exists()


def test_missing_fluidsynth_fails_loudly_before_writing(tmp_path, monkeypatch):
    from sapphire_core.corpus import render

    monkeypatch.setattr(render, "fluidsynth_available", lambda *fonts: False)
    with pytest.raises(render.RenderError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        build_corpus(tmp_path / "nofs", only=ONLY, workers=1)
    assert not (tmp_path / "nofs" / COMPLETE_MARKER).exists()


def test_part_notes_merges_ties_only_between_equal_pitches():
    from music21 import chord, note, stream, tie

    from sapphire_core.corpus.works import _part_notes

    part = stream.Part()
    a = note.Note("C4", quarterLength=1.0)
    a.tie = tie.Tie("start")
    b = note.Note("C4", quarterLength=1.0)
    b.tie = tie.Tie("stop")
    c = chord.Chord(["E4", "G4"], quarterLength=1.0)
    c.notes[0].tie = tie.Tie("start")  # only E is held over
    d = chord.Chord(["E4", "A4"], quarterLength=2.0)
    d.notes[0].tie = tie.Tie("stop")
    grace = note.Note("D5").getGrace()
    for off, el in ((0, a), (1, b), (2, c), (3, grace), (3, d)):
        part.insert(off, el)
    notes = sorted(_part_notes(part, 0))
    assert notes == [(0.0, 2.0, 60, 0), (2.0, 1.0, 67, 0), (2.0, 3.0, 64, 0), (3.0, 2.0, 69, 0)]


def test_unseen_profile_renders_only_unseen_sounds(tmp_path):
    """An evaluation corpus: every variant (v0 too) uses the unseen soundfont and an unseen instrument plan,
    with the tempo and key offsets of the profile; its audio differs from the demo rendering."""
    from sapphire_core.corpus.profiles import UNSEEN_PLANS, profile

    prof = profile("unseen")
    build_corpus(tmp_path / "u", only=ONLY[:1], workers=1, variants=3, render=prof)
    tracks = [json.loads(line) for line in (tmp_path / "u" / "tracks.jsonl").read_text().splitlines()]
    assert len(tracks) == 3
    for t in tracks:
        assert t["soundfont"] == "musescore" and t["instrument_plan"] in UNSEEN_PLANS, t
        assert t["render_profile"] == "unseen"
    for t in tracks[1:]:
        assert 0.85 <= t["tempo_scale"] <= 1.15 and abs(t["tempo_scale"] - 1) >= 0.03
        assert t["transpose"] in prof.transpose
    assert len({t["instrument_plan"] for t in tracks}) == 3  # variants draw distinct plans
    params = json.loads((tmp_path / "u" / ".build" / "params.json").read_text())
    assert params["render"]["name"] == "unseen"


def test_profile_overrides_are_checked():
    from sapphire_core.corpus.profiles import profile

    assert profile("train", soundfonts=["musescore"]).soundfonts == ("musescore",)
    assert profile("unseen", tempo=[0.9, 1.1]).tempo == (0.9, 1.1)
    with pytest.raises(CorpusError, match="unknown soundfont 'nope'; choose from fluidr3"):
        profile("train", soundfonts=["nope"])
    with pytest.raises(CorpusError, match="unknown instrument plan 'kazoo'"):
        profile("unseen", plans=["kazoo"])
    with pytest.raises(CorpusError, match="tempo range 1.2..0.8 is invalid"):
        profile("train", tempo=[1.2, 0.8])
    with pytest.raises(CorpusError, match="unknown render profile 'x'; choose one of demo, train, unseen"):
        profile("x")


def test_train_profile_tempo_draws_stay_in_range():
    import random

    from sapphire_core.corpus.profiles import profile

    prof = profile("train")
    draws = [prof.draw_tempo(random.Random(i)) for i in range(400)]
    assert min(draws) >= 0.8 and max(draws) <= 1.25
    assert all(abs(d - 1.0) >= 0.03 - 1e-9 for d in draws)
    assert sum(d > 1 for d in draws) > 100 and sum(d < 1 for d in draws) > 100  # both sides drawn
