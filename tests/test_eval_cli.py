"""sapphire evaluate on the toy set through the CLI: the table is printed and written."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402


def test_evaluate_cli_prints_the_table(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    s = T.toy_setup()
    monkeypatch.setattr("sapphire_core.plugins._DEFAULT", s["registry"])
    res = CliRunner().invoke(app, ["evaluate", "--model", str(s["ckpt"]), "--corpus", str(s["corpus"]),
                                   "--out", str(tmp_path), "--no-msssim"], terminal_width=250)
    assert res.exit_code == 0, res.output
    assert "ablation (6 held-out tracks)" in res.output
    assert "MFCC stats" in res.output and "toy fused" in res.output and "no training" in res.output
    assert (tmp_path / "ablation.md").is_file() and (tmp_path / "ablation.csv").is_file()


def test_evaluate_without_a_model_measures_the_training_free_rows(tmp_path):
    import json

    from typer.testing import CliRunner

    from sapphire_core.cli import app
    from sapphire_core.errors import SapphireError
    from sapphire_core.evaluation.evaluate import run_evaluation

    s = T.toy_setup()
    res = CliRunner().invoke(app, ["evaluate", "--corpus", str(s["corpus"]), "--out", str(tmp_path), "--no-msssim",
                                   "--report", str(tmp_path / "quality.md")])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "ablation.json").read_text())
    names = [r["name"] for r in payload["rows"]]
    assert names[:3] == ["Chroma 2D-FTM", "MFCC stats", "Random"] and payload["context"]["held_out"]
    assert payload["context"]["checkpoints"] == []
    md = (tmp_path / "quality.md").read_text()
    assert "### Versions (full track)" in md and "sapphire evaluate --corpus" in md
    with pytest.raises(SapphireError, match="nothing to evaluate"):
        run_evaluation(s["corpus"], out_dir=tmp_path / "none", query_modes=False)
