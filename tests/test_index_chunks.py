"""Content-defined index chunks: an inserted or removed track re-embeds only the chunk(s) around it, and
the folder then holds what a fresh build of the new corpus holds."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402
from _sigkill import folder_bytes, tone_corpus  # noqa: E402

from sapphire_core.index.builder import build_index  # noqa: E402
from sapphire_core.index.chunking import MAX_CHUNK_FACTOR, content_chunks, ends_chunk  # noqa: E402
from sapphire_core.index.folder import IndexFolder  # noqa: E402
from sapphire_core.layout import CHUNKS_DIR, STORE_DIR  # noqa: E402
from sapphire_core.testing import signals  # noqa: E402

CHUNK_SIZE = 4
N_TRACKS = 40


def new_chunks(before: list[str], after: list[str], size: int) -> int:
    """How many chunks of ``after`` hold other tracks than every chunk of ``before`` (those to embed)."""
    old = set(T.chunk_ids(before, size))
    return sum(c not in old for c in T.chunk_ids(after, size))


def test_chunks_cover_the_tracks_in_order_and_never_exceed_the_maximum():
    ids = [f"track-{i}" for i in range(3000)]
    for size in (1, 4, 64):
        chunks = T.chunk_ids(ids, size)
        assert [i for c in chunks for i in c] == ids
        assert all(0 < len(c) <= MAX_CHUNK_FACTOR * size for c in chunks)
        # a chunk ends after an id that ends chunks, or at the maximum, or at the corpus's end
        assert all(ends_chunk(c[-1], size) or len(c) == MAX_CHUNK_FACTOR * size for c in chunks[:-1])
    # about chunk_size tracks per chunk on average (a geometric length, cut at 4x; ~1000 chunks here)
    many = [f"track-{i}" for i in range(64_000)]
    assert 0.85 * 64 < len(many) / len(T.chunk_ids(many, 64)) < 1.1 * 64
    assert len(T.chunk_ids(ids, 1)) == len(ids)
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        content_chunks([], 0)


def test_an_edit_anywhere_moves_only_the_boundaries_around_it():
    """At most two new chunks: an inserted id that ends chunks splits one in two; a removed one merges two,
    which the maximum may cut again."""
    ids = [f"track-{i}" for i in range(2000)]
    for pos in range(0, len(ids), 37):
        assert new_chunks(ids, ids[:pos] + ["inserted"] + ids[pos:], 16) <= 2
        assert new_chunks(ids, ids[:pos] + ids[pos + 1:], 16) <= 2


@pytest.fixture
def corpus40(tmp_path) -> Path:
    return tone_corpus(tmp_path / "corpus", n=N_TRACKS, seconds=1.0, sr=16000)


def records(corpus: Path) -> list[dict]:
    return [json.loads(line) for line in (corpus / "tracks.jsonl").read_text().splitlines()]


def write_records(corpus: Path, recs: list[dict]) -> None:
    (corpus / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def build(corpus: Path, out: Path):
    s = T.toy_setup()
    return build_index(s["ckpt"], corpus, out, registry=s["registry"], chunk_size=CHUNK_SIZE, device="cpu",
                       extras=False)


def positional_chunks_from(position: int, n_tracks: int) -> int:
    """What fixed runs of ``CHUNK_SIZE`` by position re-embed after an edit at ``position``: every later chunk."""
    return math.ceil(n_tracks / CHUNK_SIZE) - position // CHUNK_SIZE


def assert_same_as_a_fresh_build(out: Path, corpus: Path, tmp_path: Path) -> None:
    """Every file equals a fresh build's, byte for byte, but the store (its labels remember its history),
    whose vectors per id are the same."""
    build(corpus, tmp_path / "fresh")
    assert folder_bytes(out, skip=(STORE_DIR,)) == folder_bytes(tmp_path / "fresh", skip=(STORE_DIR,))
    edited, fresh = IndexFolder.open(out), IndexFolder.open(tmp_path / "fresh")
    ids = list(fresh.metadata)
    assert sorted(edited.store.ids()) == sorted(ids)
    np.testing.assert_array_equal(edited.store.get_vectors(ids), fresh.store.get_vectors(ids))


def test_inserting_a_track_mid_corpus_embeds_only_the_chunks_around_it(corpus40, tmp_path):
    out = tmp_path / "index"
    first = build(corpus40, out)
    n_chunks = len(T.corpus_chunk_ids(corpus40, CHUNK_SIZE))
    assert first.chunks_done == n_chunks == len(list((out / CHUNKS_DIR).glob("chunk_*.npz")))
    recs = records(corpus40)
    signals.write_wav(corpus40 / "audio/inserted.wav", signals.melody([62, 65, 69, 74], durations=0.25), 16000)
    at = N_TRACKS // 2
    write_records(corpus40, recs[:at] + [{"id": "inserted", "audio": "audio/inserted.wav", "work_id": "new"}]
                  + recs[at:])
    report = build(corpus40, out)
    expected = new_chunks([r["id"] for r in recs], [r["id"] for r in records(corpus40)], CHUNK_SIZE)
    assert report.chunks_done == expected and 1 <= expected <= 2 < positional_chunks_from(at, N_TRACKS + 1)
    assert report.chunks_reused == len(T.corpus_chunk_ids(corpus40, CHUNK_SIZE)) - expected
    assert (report.added, report.removed, report.updated) == (1, 0, 0)
    assert_same_as_a_fresh_build(out, corpus40, tmp_path)


def test_removing_a_track_mid_corpus_embeds_only_the_chunks_around_it(corpus40, tmp_path):
    out = tmp_path / "index"
    build(corpus40, out)
    recs = records(corpus40)
    at = N_TRACKS // 2
    write_records(corpus40, recs[:at] + recs[at + 1:])
    report = build(corpus40, out)
    assert report.chunks_done == new_chunks([r["id"] for r in recs], [r["id"] for r in recs[:at] + recs[at + 1:]],
                                            CHUNK_SIZE)
    assert report.chunks_done <= 2 < positional_chunks_from(at, N_TRACKS - 1)
    assert (report.added, report.removed, report.updated) == (0, 1, 0)
    assert_same_as_a_fresh_build(out, corpus40, tmp_path)
    # and a rerun then changes nothing
    before = folder_bytes(out)
    again = build(corpus40, out)
    assert again.chunks_done == 0 and folder_bytes(out) == before


def test_chunks_of_the_positional_layout_are_replaced(corpus40, tmp_path):
    """An index built before chunks were keyed by content (``chunk_<ordinal>_<key>.npz``) is re-embedded
    once into content-named chunks, and the old files are deleted as stale."""
    out = tmp_path / "index"
    build(corpus40, out)
    old = out / CHUNKS_DIR / "chunk_00000_0123456789abcdef01234567.npz"
    old.write_bytes((next((out / CHUNKS_DIR).glob("chunk_*.npz"))).read_bytes())
    again = build(corpus40, out)
    assert again.chunks_done == 0 and not old.exists()
