"""Version search by chroma alignment: analytic sequences, persistence, and rendered music against
the chroma 2D-FTM baseline."""

from __future__ import annotations

import numpy as np
import pytest

from sapphire_acoustic.alignment import alignment_score, best_rotations, chroma_sequence, unit_frames
from sapphire_acoustic.versions import SEQUENCES_FILE, ChromaSequenceExtra, VersionIndex, VersionMode


def _random_harmony(rng, n_chords=12, frames_per_chord=6):
    """A sequence of held chords (3 pitch classes each), like smoothed chroma of block chords."""
    rows = []
    for _ in range(n_chords):
        v = np.zeros(12)
        v[rng.choice(12, 3, replace=False)] = 1.0
        rows += [v] * frames_per_chord
    return unit_frames(np.array(rows) + 0.05 * rng.random((len(rows), 12)))


def _stretch(seq, factor):
    """Resample a sequence in time (nearest frame): a tempo change."""
    idx = np.minimum((np.arange(int(len(seq) * factor)) / factor).astype(int), len(seq) - 1)
    return seq[idx]


def test_transposed_and_stretched_copy_aligns_better_than_another_piece():
    rng = np.random.default_rng(1)
    a, other = _random_harmony(rng), _random_harmony(rng)
    version = np.roll(_stretch(a, 1.2), 5, axis=1)  # a fourth up, 20 % slower
    assert best_rotations(a, version, 1) == [7]  # rotating the reference back down a fourth
    same, different = alignment_score(a, version), alignment_score(a, other)
    assert same > 0.95
    assert same - different > 0.2, (same, different)
    assert alignment_score(version, a) == pytest.approx(same)  # symmetric


def test_long_pieces_are_pooled_and_still_match():
    from sapphire_acoustic.alignment import MAX_FRAMES, pool_frames

    rng = np.random.default_rng(5)
    a, other = _random_harmony(rng, n_chords=150), _random_harmony(rng, n_chords=150)  # 900 frames, ~3 min
    pooled = pool_frames(a, 3)
    assert pooled.shape == (300, 12) and np.allclose(np.linalg.norm(pooled, axis=1), 1.0)
    assert len(a) > MAX_FRAMES
    version = np.roll(_stretch(a, 1.1), 2, axis=1)
    assert alignment_score(a, version) - alignment_score(a, other) > 0.2


def test_an_excerpt_is_found_inside_its_track():
    rng = np.random.default_rng(2)
    tracks = {f"t{i}": _random_harmony(rng, n_chords=20) for i in range(6)}
    index = VersionIndex()
    for tid, seq in tracks.items():
        index.add(tid, seq)
    for tid, seq in tracks.items():
        excerpt = np.roll(_stretch(seq[40:80], 0.9), -2, axis=1)
        assert index.rank_sequence(excerpt, k=1)[0][0] == tid


def test_shortlist_keeps_the_version(monkeypatch):
    rng = np.random.default_rng(3)
    index = VersionIndex(shortlist=3)
    seqs = {f"t{i}": _random_harmony(rng) for i in range(12)}
    for tid, seq in seqs.items():
        index.add(tid, seq)
    ranked = index.rank_sequence(np.roll(seqs["t7"], 3, axis=1), k=12)
    assert len(ranked) == 3 and ranked[0][0] == "t7"


def test_save_is_byte_identical_and_loads(tmp_path):
    rng = np.random.default_rng(4)
    index = VersionIndex(shortlist=7)
    for i in (3, 1, 2):
        index.add(f"t{i}", _random_harmony(rng))
    index.save(tmp_path / "a")
    loaded = VersionIndex.load(tmp_path / "a")
    loaded.save(tmp_path / "b")
    assert (tmp_path / "a" / SEQUENCES_FILE).read_bytes() == (tmp_path / "b" / SEQUENCES_FILE).read_bytes()
    assert loaded.shortlist == 7 and loaded.track_ids == ["t1", "t2", "t3"]
    q = index.sequence("t2")
    assert loaded.rank_sequence(q, k=3) == index.rank_sequence(q, k=3)


def test_a_broken_index_file_names_itself(tmp_path):
    from sapphire_core.errors import ConfigError

    (tmp_path / SEQUENCES_FILE).write_bytes(b"not an archive")
    with pytest.raises(ConfigError, match=f"{SEQUENCES_FILE}.*sapphire index"):
        VersionIndex.load(tmp_path)


def test_chroma_of_a_transposed_chord_rotates():
    sr = 22050
    t = np.arange(int(sr * 4.0)) / sr

    def chord(midis):
        return sum(np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) for m in midis).astype(np.float32)

    c_major, d_major = chroma_sequence(chord([60, 64, 67]), sr), chroma_sequence(chord([62, 66, 69]), sr)
    assert c_major.shape[1] == 12 and len(c_major) >= 15
    assert set(np.argsort(-c_major.mean(0))[:3]) == {0, 4, 7}
    assert best_rotations(c_major, d_major, 1) == [10]  # D major rotated down a tone is C major


@pytest.mark.slow
def test_rendered_versions_beat_the_chroma_baseline(demo_corpus, tmp_path):
    """Demo works rendered twice (other instruments, key and tempo): version search by alignment
    ranks another version first clearly more often than the chroma 2D-FTM baseline."""
    from sapphire_core.data import Corpus
    from sapphire_core.evaluation.baselines import chroma_baseline
    from sapphire_core.evaluation.metrics import cosine_matrix

    corpus = Corpus(demo_corpus)
    by_work: dict[str, list] = {}
    for t in corpus.tracks:
        by_work.setdefault(t.work_id, []).append(t)
    tracks = [t for ts in list(by_work.values())[:30] if len(ts) >= 2 for t in ts]
    extra = ChromaSequenceExtra()
    extra.build(tracks, tmp_path / "extra")
    index, mode = extra.load(tmp_path / "extra"), VersionMode()
    work = {t.id: t.work_id for t in tracks}

    hits = []
    for t in tracks:
        ranked = [tid for tid, _ in mode.rank(t.audio, index, k=3) if tid != t.id]
        hits.append(work[ranked[0]] == t.work_id)

    base = chroma_baseline(None)
    raw = np.stack([base.raw(t.audio) for t in tracks])
    base.fit(raw)
    S = cosine_matrix(base.transform(raw), base.transform(raw))
    np.fill_diagonal(S, -np.inf)
    base_hits = [tracks[int(np.argmax(S[i]))].work_id == t.work_id for i, t in enumerate(tracks)]
    ours, theirs = float(np.mean(hits)), float(np.mean(base_hits))
    print(f"\nversion top-1 on {len(tracks)} demo tracks: alignment {ours:.3f}, chroma 2D-FTM {theirs:.3f}")
    assert ours >= theirs + 0.15, (ours, theirs)

    # 10 s excerpts of one rendering find another rendering (the demo's showcase query)
    import json

    ids = [t.id for t in tracks]
    queries = [q for q in map(json.loads, (demo_corpus / "queries.jsonl").read_text().splitlines())
               if q["kind"] == "excerpt" and q.get("seconds") == 10 and q["source_track"] in work]
    ex_hits, ex_base = [], []
    for q in queries:
        ranked = [tid for tid, _ in mode.rank(demo_corpus / q["audio"], index, k=3) if tid != q["source_track"]]
        ex_hits.append(work[ranked[0]] == q["work_id"])
        sims = cosine_matrix(base.transform(base.raw(demo_corpus / q["audio"])[None]), base.transform(raw))[0]
        sims[ids.index(q["source_track"])] = -np.inf
        ex_base.append(work[ids[int(np.argmax(sims))]] == q["work_id"])
    ours, theirs = float(np.mean(ex_hits)), float(np.mean(ex_base))
    print(f"10 s excerpt top-1 ({len(queries)} queries): alignment {ours:.3f}, chroma 2D-FTM {theirs:.3f}")
    assert len(queries) >= 10 and ours >= theirs + 0.15, (ours, theirs)
