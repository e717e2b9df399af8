"""The done criterion of the retrieval issue on the real chain, and the demo command's behaviour.

``test_fused_model_beats_mfcc`` uses the demo corpus and configs/default.yaml trained by the real
trainer (once per process, in the run folder ``make demo`` uses, so a finished demo run is reused).
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402


@pytest.mark.slow
def test_fused_model_beats_mfcc(tmp_path):
    from sapphire_core.evaluation.evaluate import run_evaluation

    d = T.demo_trained()
    rep = run_evaluation(d["corpus"], models=[d["ckpt"]], out_dir=tmp_path, per_modality=False, msssim=False,
                         query_modes=False, log=lambda m: None)
    assert rep.context["held_out"], "the checkpoint must record its validation works"
    mfcc = rep.row("MFCC stats")
    fused = next(r for r in rep.rows if r["name"].endswith("fused"))
    assert fused["audio->audio"]["queries"] >= 20
    assert fused["audio->audio"]["R@1"] > mfcc["audio->audio"]["R@1"], (fused["audio->audio"], mfcc["audio->audio"])
    assert fused["triplets"]["overall"] > mfcc["triplets"]["overall"], (fused["triplets"], mfcc["triplets"])


def test_pick_queries_come_from_held_out_works():
    from sapphire_core.cli.demo_cmd import pick_queries

    s = T.toy_setup()
    val = [f"w{w}__v{v}" for w in (1, 2) for v in (0, 1)]
    picks = pick_queries(s["corpus"], val)
    assert picks["example"]["source_track"] in val
    assert picks["lyrics"] == {"text": "night falls on the cold hills", "work_id": "w1"}
    assert picks["text"]["work_id"] in {"w1", "w2"} and "piece" in picks["text"]["text"]
    assert "modes" not in picks  # the toy corpus has no plugin-mode queries (hums)


def test_pick_queries_takes_one_query_per_plugin_kind(tmp_path):
    import shutil

    from sapphire_core.cli.demo_cmd import pick_queries

    corpus = shutil.copytree(T.toy_setup()["corpus"], tmp_path / "c")
    extra = [{"id": "w1__hum", "kind": "hum", "audio": "audio/w1__v0.wav", "work_id": "w1"},
             {"id": "w1__hum2", "kind": "hum", "audio": "audio/w1__v1.wav", "work_id": "w1"},
             {"id": "w9__whistle", "kind": "whistle", "audio": "audio/w1__v1.wav", "work_id": "w9"}]
    with (corpus / "queries.jsonl").open("a") as fh:
        fh.writelines(json.dumps(q) + "\n" for q in extra)
    picks = pick_queries(corpus, ["w1__v0", "w1__v1"])
    assert list(picks["modes"]) == ["hum"] and picks["modes"]["hum"]["id"] == "w1__hum"  # w9 is not held out


def test_demo_reports_a_bad_config_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    d = Path(__file__).resolve().parents[1]
    monkeypatch.setattr("sapphire_core.corpus.ensure_demo_corpus", lambda path=None, **kw: T.toy_setup()["corpus"])
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--config", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2
    assert "demo stopped" in res.output and "nope.yaml" in res.output and "Traceback" not in res.output
    assert (d / "configs" / "default.yaml").is_file()


def test_the_command_the_failure_message_suggests_runs():
    """'demo failed' says to rerun with 'python -X dev -m sapphire_core.cli demo': that module runs."""
    import subprocess

    from sapphire_core.cli import demo_cmd

    assert "-m sapphire_core.cli demo" in Path(demo_cmd.__file__).read_text()
    res = subprocess.run([sys.executable, "-X", "dev", "-m", "sapphire_core.cli", "demo", "--help"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "--out" in res.stdout, res.stderr[-2000:]
