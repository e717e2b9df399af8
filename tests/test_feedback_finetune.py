"""Fine-tuning from simulated listeners who follow a hidden ground truth (same key), plus active learning."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from sapphire_core import hookimpl
from sapphire_core.checkpoint import load_checkpoint, save_checkpoint
from sapphire_core.config import validate_config
from sapphire_core.encoder import Encoder, EncoderConfig, TextEncoder
from sapphire_core.extractor import FeatureExtractor
from sapphire_core.feedback.active import disagreement, most_uncertain_triplets, rank_pairs, uncertainty
from sapphire_core.feedback.finetune import finetune, is_heldout, triplet_agreement
from sapphire_core.feedback.store import FeedbackError, FeedbackStore
from sapphire_core.model import SapphireModel, load_model
from sapphire_core.testing import signals
from sapphire_core.webapp.memory import audio_features

ROOTS = {"C": 48, "D": 50, "F#": 54, "A": 57}
#: Timbre variants: (octave shift, harmonics). Octaves barely move chroma but move the band energies a lot.
TIMBRES = {"low-pure": (-12, 1), "low-rich": (-12, 8), "mid-pure": (0, 1), "mid-rich": (0, 8),
           "high-pure": (12, 1), "high-rich": (12, 8)}


class ToyChroma(FeatureExtractor):
    name, modality, sample_rate = "fb_chroma", "fb_tonal", 22050

    def output_shapes(self):
        return {"chroma": (12,)}

    def extract(self, audio, track):
        return {"chroma": audio_features(audio, self.sample_rate)[:12]}


class ToyBands(FeatureExtractor):
    name, modality, sample_rate = "fb_bands", "fb_timbre", 22050

    def output_shapes(self):
        return {"bands": (4,)}

    def extract(self, audio, track):
        return {"bands": audio_features(audio, self.sample_rate)[12:]}


class _Linear(Encoder):
    width: int
    key: str

    class Config(EncoderConfig):
        output_dim: int = 8
        gain: float = 1.0

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.proj = nn.Linear(self.width, self.output_dim)

    def forward(self, features):
        return self.config.gain * self.proj(features[self.key])

    def example_features(self, batch_size=2, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        return {self.key: torch.rand(batch_size, self.width, generator=g)}


class ToyTonalEncoder(_Linear):
    name, modality, requires, width, key = "fb_tonal_lin", "fb_tonal", ("fb_chroma",), 12, "fb_chroma.chroma"


class ToyTimbreEncoder(_Linear):
    name, modality, requires, width, key = "fb_timbre_lin", "fb_timbre", ("fb_bands",), 4, "fb_bands.bands"


class ToyTextTower(TextEncoder):
    """Bag of words over a tiny vocabulary -> a random linear map (frozen in fine-tuning)."""

    name = "fb_text"
    VOCAB = ("c", "d", "f#", "a", "major", "low", "mid", "high", "pure", "rich")

    class Config(EncoderConfig):
        output_dim: int = 8

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self.proj = nn.Linear(len(self.VOCAB), self.output_dim)

    def tokenize(self, texts):
        bags = torch.zeros(len(texts), len(self.VOCAB))
        for i, text in enumerate(texts):
            for word in text.lower().split():
                if word in self.VOCAB:
                    bags[i, self.VOCAB.index(word)] += 1
        return {"bag": bags}

    def forward(self, features):
        return self.proj(features["bag"])


class ToyPlugin:
    @hookimpl
    def register_extractors(self, register):
        register(ToyChroma)
        register(ToyBands)

    @hookimpl
    def register_encoders(self, register):
        register(ToyTonalEncoder)
        register(ToyTimbreEncoder)
        register(ToyTextTower)


#: The timbre modality is loud (gain 6), so the untrained fused space mostly hears timbre, while the
#: simulated listeners judge by key: the head has to learn to listen to the tonal modality.
CONFIG = {
    "name": "feedback-toy",
    "modalities": {"fb_tonal": {"encoder": {"name": "fb_tonal_lin", "output_dim": 8}},
                   "fb_timbre": {"encoder": {"name": "fb_timbre_lin", "output_dim": 8, "gain": 6.0}}},
    "fusion": {"name": "concat_mlp", "output_dim": 16, "hidden": 32, "dropout": 0.0},
    "losses": [{"name": "infonce"}],
}


# Tiny matrices: on a shared 2-core machine extra torch threads only contend (10x slower).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy(write_corpus, registry_with, tmp_path):
    """A 24-track corpus (4 keys x 6 timbres), a registry with the toy components, and an untrained checkpoint."""
    tracks = {}
    for key, root in ROOTS.items():
        for timbre, (shift, harmonics) in TIMBRES.items():
            r = root + 12 + shift
            y = signals.chord([r, r + 4, r + 7], sr=22050, seconds=1.0, harmonics=harmonics)
            tracks[f"{key}-{timbre}"] = (y, 22050, {"title": f"{key} major, {timbre}", "key": key, "timbre": timbre})
    corpus = write_corpus(tracks)
    registry = registry_with(ToyPlugin())
    torch.manual_seed(0)
    model = SapphireModel(validate_config(CONFIG, registry), registry)
    ckpt = save_checkpoint(tmp_path / "parent.ckpt", config=model.config_dict(), state_dict=model.state_dict(),
                           meta={"train_ids": sorted(tracks)})
    return {"corpus": corpus, "registry": registry, "ckpt": ckpt, "ids": sorted(tracks)}


def key_of(track_id: str) -> str:
    return track_id.split("-", 1)[0]


def timbre_of(track_id: str) -> str:
    return track_id.split("-", 1)[1]


def simulate_raters(db, ids, *, n_raters=3, triplets_per_rater=48, ab_per_rater=12, noise=0.05, seed=0,
                    contradict_heldout=False, text_ab_per_rater=0):
    """Listeners who hear key only. In each triplet the same-key candidate has a *different* timbre and the
    other candidate shares the anchor's timbre, so a timbre-driven model gets them wrong."""
    rng = random.Random(seed)
    store = FeedbackStore(db)
    for r in range(n_raters):
        rater = f"sim{r}"
        for _ in range(triplets_per_rater):
            a = rng.choice(ids)
            same_key = [t for t in ids if key_of(t) == key_of(a) and timbre_of(t) != timbre_of(a)]
            same_timbre = [t for t in ids if timbre_of(t) == timbre_of(a) and key_of(t) != key_of(a)]
            pos, neg = rng.choice(same_key), rng.choice(same_timbre)
            b, c = (pos, neg) if rng.random() < 0.5 else (neg, pos)
            truth = "b" if b == pos else "c"
            choice = truth if rng.random() >= noise else ("c" if truth == "b" else "b")
            next_id = store.count_triplets() + 1
            if contradict_heldout and is_heldout("triplets", next_id, fraction=0.25, seed=0):
                choice = "c" if truth == "b" else "b"
            store.add_triplet(session="sim", rater=rater, anchor=a, b=b, c=c, choice=choice,
                              model_version="parent", index_version="none")
        for _ in range(ab_per_rater):
            q = rng.choice(ids)
            good = rng.sample([t for t in ids if key_of(t) == key_of(q) and t != q], 2)
            bad = rng.sample([t for t in ids if timbre_of(t) == timbre_of(q) and t != q], 2)
            left_is_model = rng.random() < 0.5
            sides = [{"model": "model", "model_version": "m", "index_version": "i", "ids": good},
                     {"model": "baseline", "model_version": "b", "index_version": "i", "ids": bad}]
            left, right = sides if left_is_model else sides[::-1]
            trial = store.add_ab_trial(session="sim-ab", rater=rater, query_kind="track", query=q, left=left,
                                       right=right)
            prefer_model = rng.random() >= noise
            choice = "left" if (left_is_model == prefer_model) else "right"
            store.add_ab(trial, rater=rater, choice=choice)
        for _ in range(text_ab_per_rater):  # text queries "<key> major": the list in that key wins
            key = rng.choice(list(ROOTS))
            good = rng.sample([t for t in ids if key_of(t) == key], 2)
            bad = rng.sample([t for t in ids if key_of(t) != key], 2)
            left = {"model": "model", "model_version": "m", "index_version": "i", "ids": good}
            right = {"model": "baseline", "model_version": "b", "index_version": "i", "ids": bad}
            trial = store.add_ab_trial(session="sim-text", rater=rater, query_kind="text", query=f"{key} major",
                                       left=left, right=right)
            store.add_ab(trial, rater=rater, choice="left" if rng.random() >= noise else "right")
    store.close()


def test_finetune_raises_heldout_agreement_and_the_checkpoint_reloads(toy, tmp_path):
    db = tmp_path / "fb.db"
    simulate_raters(db, toy["ids"])
    out = tmp_path / "child.ckpt"
    result = finetune(toy["ckpt"], db, out, corpus=toy["corpus"], registry=toy["registry"], steps=300)
    print("\nfinetune:", result.summary(), result.counts)
    assert result.counts["triplets_heldout"] >= 20 and result.counts["ab_heldout"] >= 3
    assert result.before["triplet"] < 0.5  # the timbre-driven parent mostly disagrees with the listeners
    assert result.after["triplet"] >= result.before["triplet"] + 0.3
    assert result.after["triplet"] >= 0.8
    assert result.after["ab"] >= result.before["ab"]
    assert result.saved and out.is_file()
    assert result.losses[-1] < result.losses[0]
    # the new checkpoint reloads (weights_only) and scores the held-out triplets as the run said
    model, meta = load_model(out, toy["registry"])
    assert meta["train_ids"] == toy["ids"]  # parent meta kept
    lineage = meta["lineage"]
    from sapphire_core.index.builder import file_sha256

    assert lineage["parent_sha256"] == file_sha256(toy["ckpt"]) and lineage["ancestors"] == [lineage["parent_sha256"]]
    assert sorted(lineage["triplet_ids_train"] + lineage["triplet_ids_heldout"]) == list(range(1, 145))
    assert len(lineage["ab_ids_train"]) + len(lineage["ab_ids_heldout"]) == 36
    assert meta["finetune"]["heldout_after"]["triplet"] == pytest.approx(result.after["triplet"])
    # only the fusion head changed
    parent = load_checkpoint(toy["ckpt"])["state_dict"]
    child = load_checkpoint(out)["state_dict"]
    changed = {k for k in parent if not torch.equal(parent[k], child[k])}
    assert changed and all(k.startswith("fusion.") for k in changed)

    from sapphire_core.embedding import embed_tracks
    from sapphire_core.data import Corpus

    model.registry = toy["registry"]
    emb = embed_tracks(model, Corpus(toy["corpus"]).tracks, None)
    pos = {t: i for i, t in enumerate(emb.ids)}
    with FeedbackStore(db) as store:
        rows = [r for r in store.rows("triplets") if r["id"] in set(lineage["triplet_ids_heldout"])]
    trip = np.array([[pos[r["anchor"]], pos[r["positive"]], pos[r["negative"]]] for r in rows])
    assert triplet_agreement(emb.fused, trip) == pytest.approx(result.after["triplet"])


def test_text_query_choices_train_the_text_projection(toy, tmp_path):
    """A/B choices on text queries ("D major") move the text projection (the tower stays frozen); a model
    without a text tower skips them and says so."""
    registry = toy["registry"]
    torch.manual_seed(1)
    model = SapphireModel(validate_config({**CONFIG, "text": {"name": "fb_text"}}, registry), registry)
    parent = save_checkpoint(tmp_path / "text.ckpt", config=model.config_dict(), state_dict=model.state_dict())
    db = tmp_path / "fb.db"
    simulate_raters(db, toy["ids"], triplets_per_rater=40, ab_per_rater=0, text_ab_per_rater=16)
    out = tmp_path / "child.ckpt"
    result = finetune(parent, db, out, corpus=toy["corpus"], registry=registry, steps=300)
    print("\ntext finetune:", result.summary(), result.counts)
    assert result.counts["skipped_text_query"] == 0 and result.counts["ab_heldout"] >= 5
    assert result.after["ab"] > result.before["ab"] and result.after["ab"] >= 0.8
    assert result.saved
    before, after = load_checkpoint(parent)["state_dict"], load_checkpoint(out)["state_dict"]
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fusion", "text_projection"}  # never the encoders or the text tower
    # the parent without a text tower cannot place text queries: they are skipped, not guessed
    plain = finetune(toy["ckpt"], db, tmp_path / "plain.ckpt", corpus=toy["corpus"], registry=registry, steps=5,
                     require_no_drop=False)
    assert plain.counts["skipped_text_query"] == 48 and plain.counts["ab_train"] == plain.counts["ab_heldout"] == 0


def test_finetune_does_not_save_when_heldout_agreement_drops(toy, tmp_path):
    db = tmp_path / "fb.db"
    # the held-out listeners contradict the training listeners: fitting the training part must hurt
    simulate_raters(db, toy["ids"], ab_per_rater=0, noise=0.0, contradict_heldout=True)
    out = tmp_path / "child.ckpt"
    result = finetune(toy["ckpt"], db, out, corpus=toy["corpus"], registry=toy["registry"], steps=200)
    assert result.after["triplet"] < result.before["triplet"]
    assert not result.saved and not out.exists()
    assert result.train_after["triplet"] > result.train_before["triplet"]


def test_finetune_errors(toy, tmp_path):
    with pytest.raises(FeedbackError, match="not found"):
        finetune(toy["ckpt"], tmp_path / "missing.db", tmp_path / "o.ckpt", corpus=toy["corpus"],
                 registry=toy["registry"])
    FeedbackStore(tmp_path / "empty.db").close()
    with pytest.raises(FeedbackError, match="no usable judgements"):
        finetune(toy["ckpt"], tmp_path / "empty.db", tmp_path / "o.ckpt", corpus=toy["corpus"],
                 registry=toy["registry"])
    with pytest.raises(FeedbackError, match="--index INDEX"):
        finetune(toy["ckpt"], tmp_path / "empty.db", tmp_path / "o.ckpt", registry=toy["registry"])
    with pytest.raises(FeedbackError, match="strictly between"):
        finetune(toy["ckpt"], tmp_path / "empty.db", tmp_path / "o.ckpt", registry=toy["registry"],
                 heldout_fraction=1.0)


def test_heldout_split_is_stable_and_near_the_fraction():
    flags = [is_heldout("triplets", i, fraction=0.25, seed=0) for i in range(1, 4001)]
    assert 0.22 < np.mean(flags) < 0.28
    assert flags == [is_heldout("triplets", i, fraction=0.25, seed=0) for i in range(1, 4001)]
    assert flags != [is_heldout("triplets", i, fraction=0.25, seed=1) for i in range(1, 4001)]


# ---------------------------------------------------------------- active learning


def test_uncertainty_and_disagreement_values():
    assert uncertainty(0.5, 0.5) == pytest.approx(1.0)
    # 1 - |tanh(0.1 / (2 * 0.05))| = 1 - tanh(1)
    assert uncertainty(0.6, 0.5, temperature=0.05) == pytest.approx(1 - np.tanh(1.0))
    assert uncertainty(0.9, 0.1) < 1e-3
    assert disagreement(0.6, 0.5, 0.4, 0.7) == 1.0 and disagreement(0.6, 0.5, 0.7, 0.4) == 0.0
    assert disagreement(0.5, 0.5, 0.4, 0.7) == 0.0  # a tie is not a flip


def test_rank_pairs_puts_near_ties_and_model_disagreements_first():
    scores = {"x": 0.90, "y": 0.89, "z": 0.20}
    ranked = rank_pairs("a", scores)
    assert (ranked[0].b, ranked[0].c) == ("x", "y") and len(ranked) == 3
    other = {"x": 0.1, "y": 0.2, "z": 0.9}  # another version orders x/z and y/z the other way
    ranked = rank_pairs("a", scores, other_scores=other)
    assert {(t.b, t.c) for t in ranked[:3] if t.disagreement == 1.0} == {("x", "y"), ("x", "z"), ("y", "z")}
    assert ranked[0].priority >= ranked[-1].priority


def test_most_uncertain_triplets_on_points_of_a_circle():
    # Points on a circle at 0, 10, 20 and 180 degrees: from the anchor at 10 degrees, the points at 0 and 20
    # are equally similar (a perfect tie), so that triplet is the most uncertain of all.
    angles = np.deg2rad([0.0, 10.0, 20.0, 180.0])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    best = most_uncertain_triplets(["p0", "p10", "p20", "p180"], vectors, n=1, candidates=3)[0]
    assert best.anchor == "p10" and {best.b, best.c} == {"p0", "p20"} and best.uncertainty == pytest.approx(1.0)


# ---------------------------------------------------------------- the whole loop on the real SearchEngine


def test_loop_index_serve_judge_finetune_reindex(toy, tmp_path, monkeypatch):
    """Index a checkpoint, serve it with the real SearchEngine, collect simulated listeners' judgements over
    HTTP, ``sapphire finetune --index``, and re-index with the child checkpoint."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from sapphire_core import plugins
    from sapphire_core.cli import app as cli
    from sapphire_core.index.builder import build_index
    from sapphire_core.retrieval import SearchEngine
    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.app import ADMIN_HEADER
    from sapphire_core.webapp.memory import MemoryEngine

    registry, ids = toy["registry"], toy["ids"]
    build_index(toy["ckpt"], toy["corpus"], tmp_path / "index", registry=registry, device="cpu")
    engine = SearchEngine.open(tmp_path / "index", registry=registry)
    baseline = MemoryEngine.from_corpus(toy["corpus"], model_version="chroma")
    db = tmp_path / "fb.db"
    web = create_app(engine, db_path=db, admin_token="loop-admin-token", baseline_engine=baseline)
    rng = random.Random(1)
    with TestClient(web) as c:
        hits = c.post("/api/search", json={"track": "C-mid-rich", "k": 5}).json()["results"]
        assert len(hits) == 5 and "C-mid-rich" not in [h["track_id"] for h in hits]
        assert c.get(hits[0]["audio_url"]).content[:4] == b"RIFF"
        r = c.post("/api/search", json={"text": "calm piano"})
        assert r.status_code == 422 and "text tower" in r.json()["detail"]  # the engine's own message
        t = c.get("/api/triplet/next", params={"rater": "x"}).json()  # anchors come from engine.track_ids()
        assert t["anchor"]["id"] in ids
        spec = {"name": "loop", "kind": "ab", "models": ["model", "baseline"], "list_length": 3,
                "trials_per_rater": 6, "queries": [{"track": i} for i in ids[::3]]}
        assert c.post("/api/admin/sessions", json=spec, headers={ADMIN_HEADER: "loop-admin-token"}).status_code == 200
        for rater in ("sim0", "sim1", "sim2"):
            for _ in range(40):  # listeners who hear key only (see simulate_raters)
                a = rng.choice(ids)
                pos = rng.choice([x for x in ids if key_of(x) == key_of(a) and timbre_of(x) != timbre_of(a)])
                neg = rng.choice([x for x in ids if timbre_of(x) == timbre_of(a) and key_of(x) != key_of(a)])
                b, cc = (pos, neg) if rng.random() < 0.5 else (neg, pos)
                j = {"rater": rater, "anchor": a, "b": b, "c": cc, "choice": "b" if b == pos else "c"}
                assert c.post("/api/triplet/judgement", json=j).status_code == 200
            for _ in range(6):
                trial = c.get("/api/ab/next", params={"session": "loop", "rater": rater}).json()
                q = trial["query"]["track"]["id"]
                same = {s: sum(key_of(x["id"]) == key_of(q) for x in trial["lists"][s]) for s in "AB"}
                choice = "tie" if same["A"] == same["B"] else max(same, key=same.get)
                assert c.post("/api/ab/judgement", json={"trial_id": trial["trial_id"], "rater": rater,
                                                         "choice": choice}).status_code == 200
    with FeedbackStore(db) as store:
        rows = store.rows("triplets")
    assert len(rows) == 120 and {r["model_version"] for r in rows} == {engine.model_version}

    monkeypatch.setattr(plugins, "_DEFAULT", registry)  # the CLI uses the default registry
    out = tmp_path / "child.ckpt"
    res = CliRunner().invoke(cli, ["finetune", "--model", str(toy["ckpt"]), "--feedback", str(db),
                                   "--index", str(tmp_path / "index"), "--out", str(out), "--steps", "300"])
    print("\n" + res.output)
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and out.is_file()
    _, meta = load_model(out, registry)
    assert meta["finetune"]["heldout_after"]["triplet"] > meta["finetune"]["heldout_before"]["triplet"]
    # the index can be rebuilt with the child; its engine reports a new model version
    build_index(out, toy["corpus"], tmp_path / "index2", registry=registry, device="cpu")
    child_engine = SearchEngine.open(tmp_path / "index2", registry=registry)
    assert child_engine.model_version != engine.model_version
    # an index of another checkpoint is refused as the embedding source
    with pytest.raises(FeedbackError, match="another checkpoint"):
        finetune(toy["ckpt"], db, tmp_path / "x.ckpt", index=tmp_path / "index2", registry=registry)


class _Payload:
    """Unpickling this would create a file: a stand-in for code execution hidden in a checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_finetune_never_unpickles_code_from_a_checkpoint(toy, tmp_path):
    from sapphire_core.errors import CheckpointError

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    payload = load_checkpoint(toy["ckpt"])
    payload["meta"]["note"] = _Payload(str(marker))
    torch.save(payload, evil)
    simulate_raters(tmp_path / "fb.db", toy["ids"], n_raters=1, triplets_per_rater=8, ab_per_rater=0)
    with pytest.raises(CheckpointError, match="not a readable SAPPHIRE checkpoint"):
        finetune(evil, tmp_path / "fb.db", tmp_path / "o.ckpt", corpus=toy["corpus"], registry=toy["registry"])
    assert not marker.exists()  # weights_only=True refused the object instead of running its __reduce__
