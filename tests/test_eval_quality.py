"""The quality report and the choice of evaluation tracks."""

from __future__ import annotations

import json

import pytest

from sapphire_core.data import Corpus
from sapphire_core.evaluation.evaluate import evaluation_tracks
from sapphire_core.evaluation.quality import quality_markdown, update_report


@pytest.fixture
def corpus(tmp_path):
    lines = [{"id": f"{w}__v{k}", "work_id": w, "audio": f"audio/{w}__v{k}.flac"}
             for w in ("bach-a", "bach-b", "reel-c") for k in (0, 1)]
    (tmp_path / "tracks.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return Corpus(tmp_path)


def test_evaluation_tracks(corpus):
    every = [t.id for t in corpus.tracks]
    assert evaluation_tracks(corpus, None) == (every, True)  # nothing trained
    # the checkpoint's own validation split, when it is in this corpus
    assert evaluation_tracks(corpus, {"val_ids": ["reel-c__v1", "elsewhere__v0"]}) == (["reel-c__v1"], True)
    # another corpus: only works the model never trained on (bach-a's other rendering counts as seen)
    assert evaluation_tracks(corpus, {"val_ids": ["x__v0"], "train_ids": ["bach-a__v3", "zz__v0"]}) == (
        ["bach-b__v0", "bach-b__v1", "reel-c__v0", "reel-c__v1"], True)
    # trained on all of it and no split recorded: everything, flagged as optimistic
    assert evaluation_tracks(corpus, {"train_ids": every}) == (every, False)


def test_quality_markdown_tables_only_what_rows_answer():
    rows = [{"name": "Chroma 2D-FTM", "what": "baseline", "audio->audio": {"top1": 0.41, "MRR": 0.5},
             "excerpt 10s->audio": {"top1": 0.2}},
            {"name": "Lyrics", "what": "nothing to find", "audio->audio": {"top1": float("nan")}},
            {"name": "Chroma alignment", "what": "no training", "audio->audio": {"top1": 0.853, "MRR": 0.88},
             "excerpt 10s->audio": {"top1": 0.8}, "hum->audio": {"top1": 0.7, "MRR": 0.75}}]
    md = quality_markdown(rows, {"commit": "abc1234", "eval_tracks": 225}, command="sapphire evaluate --x")
    assert "`sapphire evaluate --x`" in md and "- **commit**: abc1234" in md
    assert "| Chroma alignment | 0.853 | 0.880 |" in md
    versions = md.split("### Versions (full track)")[1].split("###")[0]
    assert "Chroma 2D-FTM" in versions and "mAP" not in versions  # no row has mAP: no empty column
    assert "| Lyrics |" not in versions  # NaN (no relevant item) is not a figure
    hums = md.split("### Hums")[1].split("###")[0]
    assert "Chroma alignment" in hums and "Chroma 2D-FTM" not in hums
    assert "### Text" not in md and "### Label triplets" not in md
    assert "10 s top-1" in md and "5 s top-1" not in md


def test_update_report_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "quality.md"
    update_report(path, "eval_unseen", "## eval_unseen\n\nfirst")
    update_report(path, "robust", "## robust\n\nreal music")
    text = update_report(path, "eval_unseen", "## eval_unseen\n\nsecond")
    assert text.startswith("# SAPPHIRE quality report") and text == path.read_text()
    assert "second" in text and "first" not in text and "real music" in text
    assert text.index("eval_unseen") < text.index("robust")  # a rewritten block keeps its place
