"""sapphire evaluate on the toy set through the CLI: the table is printed and written."""

import sys
from pathlib import Path

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


def test_evaluate_needs_something_to_evaluate(tmp_path):
    from typer.testing import CliRunner

    from sapphire_core.cli import app

    s = T.toy_setup()
    res = CliRunner().invoke(app, ["evaluate", "--corpus", str(s["corpus"]), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "nothing to evaluate" in str(res.exception)
