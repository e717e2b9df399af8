"""Training-free descriptor similarity (``sounds_like``): analytic signals, the store's arithmetic, an index
without a model, and rendered music against the chroma 2D-FTM and MFCC baselines in one run."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from sapphire_acoustic.descriptors import (BLOCKS, descriptor_blocks, dynamics_profile, key_mode_profile,
                                           log_lag_autocorrelation, rhythm_profile)
from sapphire_acoustic.sounds_like import (BLOCK_WEIGHTS, DESCRIPTORS_FILE, GATE_THRESHOLD, DescriptorExtra,
                                           DescriptorStore, SoundsLikeMode)
from sapphire_core.testing import signals

FPS = 22050 / 512


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_onset_autocorrelation_peaks_at_the_beat_and_its_scale_transform_ignores_tempo():
    def envelope(period, frames=1300):  # a beat every `period` frames, a softer one a third of the way
        env = np.zeros(frames)
        env[::period] = 1.0
        env[period // 3::period] += 0.5
        return env

    acf = log_lag_autocorrelation(envelope(22), FPS)
    edges = np.geomspace(0.1, 4.0, len(acf) + 1) * FPS
    peak = int(np.argmax(acf))
    assert edges[peak] - 0.5 <= 22 <= edges[peak + 1] + 0.5  # the bin that holds the pattern's period
    slow, fast = rhythm_profile(envelope(22), FPS), rhythm_profile(envelope(19), FPS)  # 16 % faster
    straight = np.zeros(1300)
    straight[::11] = 1.0
    other = rhythm_profile(straight, FPS)
    n = len(acf)
    # the scale part: a 12 % faster tempo of the same pattern stays closer than another pattern
    assert _cos(slow[n:], fast[n:]) > _cos(slow[n:], other[n:])
    assert _cos(slow[n:], fast[n:]) > 0.9


def test_major_and_minor_chords_fill_their_own_profile_in_any_key():
    major = descriptor_blocks(signals.chord([60, 64, 67], seconds=3.0), 22050)["key_mode"]
    minor = descriptor_blocks(signals.chord([62, 65, 69], seconds=3.0), 22050)["key_mode"]  # D minor
    assert major[0] > major[12]  # C major: the major correlation at the tonic is the larger
    assert minor[12] > minor[0]
    up = descriptor_blocks(signals.chord([65, 69, 72], seconds=3.0), 22050)["key_mode"]  # F major
    assert np.allclose(up[:24], major[:24], atol=0.15)
    assert key_mode_profile(np.zeros((12, 10))).shape == (36,)


def test_a_swell_is_more_dynamic_than_a_steady_tone():
    t = np.linspace(0, 1, int(10 * FPS))
    steady = dynamics_profile(np.full(t.size, 8.0), FPS)
    swell = dynamics_profile(2.0 + 14.0 * np.sin(np.pi * t) ** 2, FPS)
    assert swell[1] > steady[1] + 1.0 and swell[6] > steady[6] + 3.0  # spread and 5-95 % range, in phon
    assert np.all(np.isfinite(dynamics_profile(np.zeros(5), FPS)))


def _store(n=8, seed=0):
    rng = np.random.default_rng(seed)
    store = DescriptorStore()
    for i in range(n):
        store.add(f"t{i}", {b: rng.normal(size=5 + 2 * k) + 3.0 for k, b in enumerate(BLOCKS)})
    return store


def test_vectors_carry_the_weighted_mean_of_block_cosines_and_the_gate_adds_to_it():
    store = _store()
    ids, X = store.vectors()
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    _, U = store._unit_blocks()
    total = sum(BLOCK_WEIGHTS.values())
    mean01 = sum(BLOCK_WEIGHTS[b] * float(U[b][0] @ U[b][1]) for b in BLOCKS) / total
    assert float(X[0] @ X[1]) == pytest.approx(mean01, abs=1e-5)
    # scores = that mean, plus the gate where the tonality cosine passes the threshold
    pairs = [(ids[0], ids[j]) for j in range(len(ids))]
    scores = store.pair_scores(pairs)
    tonal = np.array([float(U["tonality"][0] @ U["tonality"][j]) for j in range(len(ids))])
    assert np.allclose(scores - X[0] @ X.T, 8.0 * np.maximum(tonal - GATE_THRESHOLD, 0), atol=1e-5)
    assert np.isnan(store.pair_scores([("t0", "nope")])[0])
    ranked = dict(store.rank_blocks(store.blocks("t0"), k=len(ids)))
    assert ranked["t0"] == max(ranked.values())
    assert np.allclose([ranked[t] for t in ids], scores, atol=1e-5)


def test_statistics_come_from_the_catalogue_and_a_constant_dimension_stays_silent():
    store = _store()
    for tid in store.track_ids:
        store.blocks(tid)["dynamics"][0] = 7.0  # the same in every track
    store._stats = store._vectors = None
    mean, scale = store.statistics()["timbre"]
    raw = np.stack([store.blocks(t)["timbre"] for t in store.track_ids])
    assert np.allclose(mean, raw.mean(axis=0)) and np.allclose(scale, raw.std(axis=0))
    assert store.standardise(store.blocks("t3"))["dynamics"][0] == 0.0
    tonal_mean, _ = store.statistics()["tonality"]  # centred after unit length, not z-scored
    raw_t = np.stack([store.blocks(t)["tonality"] for t in store.track_ids])
    unit = raw_t / np.linalg.norm(raw_t, axis=1, keepdims=True)
    assert np.allclose(tonal_mean, unit.mean(axis=0))


def test_save_is_byte_identical_and_keeps_the_statistics(tmp_path):
    store = _store()
    store.save(tmp_path / "a")
    loaded = DescriptorStore.load(tmp_path / "a")
    loaded.save(tmp_path / "b")
    assert (tmp_path / "a" / DESCRIPTORS_FILE).read_bytes() == (tmp_path / "b" / DESCRIPTORS_FILE).read_bytes()
    before, after = store.rank_blocks(store.blocks("t5"), k=3), loaded.rank_blocks(store.blocks("t5"), k=3)
    assert [t for t, _ in after] == [t for t, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / DESCRIPTORS_FILE).write_bytes(b"not an archive")
    from sapphire_core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{DESCRIPTORS_FILE}.*sapphire index"):
        DescriptorStore.load(tmp_path / "c")


def _synthetic_corpus(root):
    """Four pieces (a chord progression on a timbre) in two timbres each, 8 tracks."""
    (root / "audio").mkdir(parents=True)
    progressions = {"w0": [[60, 64, 67], [65, 69, 72]], "w1": [[57, 60, 64], [62, 65, 69]],
                    "w2": [[62, 66, 69], [67, 71, 74]], "w3": [[64, 67, 71], [59, 62, 66]]}
    lines = []
    for w, chords in progressions.items():
        for v, harmonics in enumerate((1, 6)):
            y = np.concatenate([signals.chord(c, seconds=2.0, harmonics=harmonics) for c in chords * 3])
            signals.write_wav(root / f"audio/{w}_{v}.wav", y, 22050)
            lines.append(json.dumps({"id": f"{w}_{v}", "audio": f"audio/{w}_{v}.wav", "work_id": w}))
    (root / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_an_index_without_a_model_searches_by_audio_and_refuses_text(tmp_path):
    from typer.testing import CliRunner

    from sapphire_core.cli import app
    from sapphire_core.retrieval import SearchEngine

    corpus = _synthetic_corpus(tmp_path / "corpus")
    runner = CliRunner()
    got = runner.invoke(app, ["index", "--model", "none", "--corpus", str(corpus), "--out", str(tmp_path / "idx"),
                              "--no-extras", "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.output[got.output.index("{"):])["extras"] == {"descriptors": 8}
    engine = SearchEngine.open(tmp_path / "idx")
    assert engine.training_free_mode == "sounds_like" and set(engine.subspaces) == set(BLOCKS)
    results = engine.search(audio=str(corpus / "audio/w2_1.wav"), k=3)
    assert results[0].track_id == "w2_1"
    assert results[1].track_id == "w2_0"  # the same progression in the other timbre: the harmony gate
    assert "sounds_like" in results[0].explanation
    assert engine.similar("w1_0", k=2)[0].track_id != "w1_0"
    from sapphire_core.retrieval.ranking import SearchError

    with pytest.raises(SearchError, match="without a model.*--model CKPT"):
        engine.search(text="a chorale")
    got = runner.invoke(app, ["index", "--vector-mode", "sounds_like", "--corpus", str(corpus),
                              "--out", str(tmp_path / "idx2")])
    assert got.exit_code != 0 and "--model none" in str(got.exception or got.output)


@pytest.mark.slow
def test_rendered_music_ranks_versions_like_chroma_and_timbre_like_mfcc(demo_corpus, tmp_path):
    """On the demo corpus (training-profile works), in one run: version top-1 at least the chroma 2D-FTM
    baseline's and instrument-family triplet agreement at least MFCC statistics', each minus 0.05."""
    from sapphire_core.data import Corpus
    from sapphire_core.evaluation.baselines import chroma_baseline, mfcc_baseline
    from sapphire_core.evaluation.metrics import retrieval_metrics
    from sapphire_core.evaluation.triplets import label_triplets, score_agreement

    tracks = Corpus(demo_corpus).tracks
    extra, mode = DescriptorExtra(), SoundsLikeMode()
    extra.build(tracks, tmp_path / "extra")
    data = extra.load(tmp_path / "extra")
    ids = [t.id for t in tracks]
    pos = {t: i for i, t in enumerate(ids)}
    work = np.array([t.work_id for t in tracks])
    relevant, valid = work[:, None] == work[None, :], ~np.eye(len(ids), dtype=bool)
    S = np.full((len(ids), len(ids)), -np.inf)
    for r, t in enumerate(tracks):
        for tid, s in mode.rank(t.audio, data, k=len(ids)):
            S[r, pos[tid]] = s
    triplets = [t for t in label_triplets(tracks, per_dimension=300, seed=0) if t.dimension == "instrument_family"]
    pairs = sorted({(t.anchor, x) for t in triplets for x in (t.positive, t.negative)})
    pair = dict(zip(pairs, mode.pair_scores(data, pairs)))
    ours = (retrieval_metrics(S, relevant, valid=valid)["top1"],
            score_agreement(lambda a, b: pair.get((a, b)), triplets)["instrument_family"])
    theirs = []
    from sapphire_core.layout import cache_dir

    cache = cache_dir(demo_corpus)  # where 'sapphire evaluate' keeps them: computed once per machine
    for base in (chroma_baseline(cache), mfcc_baseline(cache)):
        X = base.fit(raw := np.stack([base.raw(t.audio) for t in tracks])).transform(raw)
        vecs = dict(zip(ids, X))
        theirs.append((retrieval_metrics(X @ X.T, relevant, valid=valid)["top1"],
                       score_agreement(lambda a, b: float(vecs[a] @ vecs[b]), triplets)["instrument_family"]))
    print(f"\n{len(ids)} demo tracks: version top-1 sounds_like {ours[0]:.3f} / chroma {theirs[0][0]:.3f}; "
          f"instrument-family triplets sounds_like {ours[1]:.3f} / MFCC {theirs[1][1]:.3f}", file=sys.stderr)
    assert ours[0] >= theirs[0][0] - 0.05, (ours, theirs)
    assert ours[1] >= theirs[1][1] - 0.05, (ours, theirs)
