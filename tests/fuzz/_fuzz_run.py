"""Run ``sapphire extract`` and ``sapphire index`` in-process (typer's runner, with the console script's
handling of SapphireError: one ``error:`` line, exit 2) on a fuzz corpus, with a tiny untrained model
of the example dynamics modality (no heavy models, no downloads)."""

from __future__ import annotations

import functools
import json
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "example_dynamics.yaml"
#: What must never reach a user: a traceback or a raw exception repr / libsndfile text.
RAW_MARKERS = ("Traceback", "IsADirectoryError", "OSError(", "FileNotFoundError", "Errno", "possibly a pipe",
               "LibsndfileError", "AttributeError", "KeyError", "UnicodeDecodeError")


@dataclass
class Run:
    code: int
    output: str
    failures: list[dict]
    warnings: list[dict]
    text: str  # output + failures.jsonl + warnings.jsonl, for the raw-text checks


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.is_file() else []


def run_cli(*args) -> tuple[int, str]:
    """``sapphire ARGS`` in this process: ``(exit code, stdout + stderr)``."""
    from typer.testing import CliRunner

    from sapphire_core.cli import app
    from sapphire_core.errors import SapphireError

    res = CliRunner().invoke(app, [str(a) for a in args])
    if isinstance(res.exception, SapphireError):  # as sapphire_core.cli.main prints it
        return 2, res.output + f"error: {res.exception}\n"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return 99, res.output + "".join(traceback.format_exception(res.exception))
    return res.exit_code, res.output


@functools.cache
def checkpoint() -> Path:
    """An untrained model of configs/example_dynamics.yaml (the weights do not matter here)."""
    import torch

    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.config import config_to_dict, load_config
    from sapphire_core.model import SapphireModel
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    torch.manual_seed(0)
    cfg = load_config(CONFIG, registry)
    model = SapphireModel(cfg, registry)
    path = Path(tempfile.mkdtemp(prefix="sapphire_fuzz_")) / "tiny.ckpt"
    return save_checkpoint(path, config=config_to_dict(cfg), state_dict=model.state_dict(), meta={"step": 0})


def extract(corpus: Path, *extra) -> Run:
    cache = corpus / "cache"
    code, out = run_cli("extract", CONFIG, "--corpus", corpus, "--cache", cache, *extra)
    fails, warns = _jsonl(cache / "failures.jsonl"), _jsonl(cache / "warnings.jsonl")
    return Run(code, out, fails, warns, out + json.dumps(fails) + json.dumps(warns))


def index(corpus: Path, *extra) -> Run:
    out_dir = corpus / "index"
    code, out = run_cli("index", "--model", checkpoint(), "--corpus", corpus, "--out", out_dir,
                        "--cache", corpus / "cache", "--device", "cpu", "--no-extras", *extra)
    fails, warns = _jsonl(out_dir / "failures.jsonl"), _jsonl(out_dir / "warnings.jsonl")
    return Run(code, out, fails, warns, out + json.dumps(fails) + json.dumps(warns))


def indexed_ids(corpus: Path) -> set[str]:
    return {r["id"] for r in _jsonl(corpus / "index" / "metadata.jsonl")}
