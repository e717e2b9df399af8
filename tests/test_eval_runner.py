"""run_evaluation end to end on the toy modality set: rows, held-out split, tables on disk, CLI."""

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core.evaluation.evaluate import run_evaluation  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    s = T.toy_setup()
    out = tmp_path_factory.mktemp("eval")
    return run_evaluation(s["corpus"], models=[s["ckpt"]], out_dir=out, registry=s["registry"], msssim=False,
                          log=lambda m: None)


def test_rows_and_what_they_are(report):
    names = [r["name"] for r in report.rows]
    # the three training-free baselines first, then modalities in config order (validated, sorted)
    assert names == ["Chroma 2D-FTM", "MFCC stats", "Random", "toy fused", "toy lyrics only", "toy pitch only"]
    assert all("no training" in r["what"] or "chance" in r["what"] for r in report.rows[:3])
    assert "no fusion" in report.row("toy pitch only")["what"]
    assert report.context["held_out"] and report.context["eval_tracks"] == 6  # works w0-w2 of the checkpoint


def test_tasks_measured_on_held_out_tracks(report):
    fused = report.row("toy fused")
    assert fused["audio->audio"]["queries"] == 6  # each held-out track has one other version
    assert fused["excerpt->audio"]["queries"] == 3
    assert fused["lyrics->audio"]["queries"] == 2  # w0 and w1 have lyrics
    assert set(fused["zero-shot"]) == {"era", "instrument_family", "mode"}
    assert set(fused["subspace_triplets"]) == {"pitch", "lyrics"}
    # the toy chroma is transposition-exact across versions: the pitch encoder finds the other version first
    assert report.row("toy pitch only")["audio->audio"]["top1"] == 1.0
    # excerpts carry no lyrics: the lyrics-only row cannot answer them and says nothing rather than guess
    assert "excerpt->audio" not in report.row("toy lyrics only")
    assert "text->audio" not in fused  # the toy corpus has no descriptions.jsonl


def test_tables_written(report):
    md = report.files["md"].read_text()
    assert "| system | a2a R@1 |" in md and "| toy fused |" in md and "**MFCC stats**" in md
    rows = list(csv.DictReader(report.files["csv"].open()))
    assert rows[0]["name"] == "Chroma 2D-FTM" and "audio->audio.R@1" in rows[0]
    payload = json.loads(report.files["json"].read_text())
    assert payload["context"]["eval_tracks"] == 6 and len(payload["rows"]) == 6


def test_warns_when_a_model_trained_on_the_eval_tracks(tmp_path):
    s = T.toy_setup()
    leaky = T.toy_checkpoint(tmp_path / "leaky.ckpt", s["registry"], val_works=("w0",))
    rep = run_evaluation(s["corpus"], models=[s["ckpt"], leaky], out_dir=tmp_path, registry=s["registry"],
                         msssim=False, per_modality=False, log=lambda m: None)
    assert "WARNING: trained on 4 of the evaluation tracks" in rep.rows[4]["what"]
    assert "WARNING" not in rep.rows[3]["what"]
