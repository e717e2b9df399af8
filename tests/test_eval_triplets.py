"""Triplet agreement: Dim-sim CSV reading, label triplets, per-sub-space agreement (hand-computed geometry)."""

import numpy as np
import pytest

from sapphire_core.data import Track
from sapphire_core.errors import CorpusError
from sapphire_core.evaluation.triplets import Triplet, label_triplets, read_dimsim_csv, triplet_agreement


def test_read_dimsim_layout(tmp_path):
    p = tmp_path / "dimsim.csv"
    p.write_text("anchor,song1,song2,anchor_start_seconds,song1_start_seconds,song2_start_seconds,song1_vote,song2_vote\n"
                 "a,b,c,10,20,30,4,1\n"
                 "a,b,c,10,20,30,1,4\n"
                 "a,b,c,0,0,0,2,2\n")
    t = read_dimsim_csv(p)
    assert len(t) == 2  # the tie says nothing
    assert (t[0].positive, t[0].negative, t[0].positive_start, t[0].negative_start) == ("b", "c", 20.0, 30.0)
    assert (t[1].positive, t[1].negative) == ("c", "b")
    assert t[0].weight == pytest.approx(3 / 5)
    bad = tmp_path / "bad.csv"
    bad.write_text("anchor,song1,song2\na,b,c\n")
    with pytest.raises(CorpusError, match="song1_votes"):
        read_dimsim_csv(bad)


def test_agreement_on_a_circle():
    # points on the unit circle at 0, 30, 90, 180 degrees
    ang = {"a": 0, "b": 30, "c": 90, "d": 180}
    v = {k: np.array([np.cos(np.radians(x)), np.sin(np.radians(x))]) for k, x in ang.items()}
    trips = [Triplet("a", "b", "c", "x"), Triplet("a", "c", "b", "x"), Triplet("a", "c", "d", "y"),
             Triplet("a", "b", "zz", "y")]
    out = triplet_agreement(v, trips)
    assert out["x"] == 0.5 and out["y"] == 1.0 and out["overall"] == pytest.approx(2 / 3)
    assert out["n"] == 3 and out["skipped"] == 1


def test_subspace_agreement_isolates_a_dimension():
    # dims 0:2 encode era (a ~ p), dims 2:4 encode key (a ~ n): the full space is ambiguous
    v = {"a": np.array([1.0, 0, 1, 0]), "p": np.array([1.0, 0, -1, 0]), "n": np.array([-1.0, 0, 1, 0])}
    t = [Triplet("a", "p", "n", "era")]
    assert triplet_agreement(v, t, subspace=slice(0, 2))["era"] == 1.0
    assert triplet_agreement(v, t, subspace=slice(2, 4))["era"] == 0.0
    assert triplet_agreement(v, t)["era"] == 0.5  # a tie counts half


def test_label_triplets_respect_labels():
    tracks = [Track(id=f"w{w}__v{v}", work_id=f"w{w}", metadata={"era": "baroque" if w < 3 else "modern"})
              for w in range(6) for v in range(2)]
    trips = label_triplets(tracks, dimensions=("work", "era"), per_dimension=50, seed=1)
    by = {t.id: t for t in tracks}
    assert {t.dimension for t in trips} == {"work", "era"}
    for t in trips:
        a, p, n = by[t.anchor], by[t.positive], by[t.negative]
        if t.dimension == "work":
            assert a.work_id == p.work_id != n.work_id and a.id != p.id
        else:
            assert a.metadata["era"] == p.metadata["era"] != n.metadata["era"]
            assert a.work_id != p.work_id  # tests the dimension, not version identity
