"""The base model that ships with sapphire-core: a checkpoint packaged beside this module, and its record.

``sapphire index`` uses it when no ``--model`` is given, so a user's own music can be indexed and
searched with no training. ``make model`` reproduces it: it renders the ``train`` profile corpus,
trains ``configs/base.yaml`` on it, evaluates the result on held-out works rendered with the
``unseen`` profile, and calls :func:`publish`. The record (``base.json``) holds what makes the
checkpoint reproducible and comparable: config, corpus content hash, commit and evaluation figures.

Weights are replaced only when the evaluation improves (:func:`publish` refuses otherwise), so the
history does not fill with checkpoints that are no better.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sapphire_core.errors import CheckpointError

MODELS_DIR = Path(__file__).parent / "models"
CHECKPOINT = MODELS_DIR / "base.ckpt"
RECORD = MODELS_DIR / "base.json"
#: Package data must stay small: the design card allows one checkpoint of at most 25 MB.
MAX_BYTES = 25 * 2**20
#: The figures :func:`publish` compares (task, metric): their mean must improve for a replacement.
SCORED = (("audio->audio", "MRR"), ("excerpt->audio", "MRR"), ("triplets", "overall"), ("text->audio", "R@10"),
          ("query->audio", "P@10"))


def base_checkpoint() -> Path:
    """The shipped base checkpoint.

    Raises
    ------
    CheckpointError
        When this installation has none (a source checkout before ``make model``).
    """
    if not CHECKPOINT.is_file():
        raise CheckpointError(f"{CHECKPOINT}: no base model is installed; pass --model CKPT (a checkpoint from "
                              "'sapphire train'), or build the base model with 'make model'")
    return CHECKPOINT


def base_record() -> dict[str, Any]:
    """The shipped base model's training record (empty when there is none)."""
    return json.loads(RECORD.read_text(encoding="utf-8")) if RECORD.is_file() else {}


def corpus_content_hash(corpus_dir: str | Path) -> str:
    """SHA-256 over ``tracks.jsonl`` and the bytes of every audio file it names, in file order."""
    from sapphire_core.data import Corpus
    from sapphire_core.io import file_sha256

    corpus_dir = Path(corpus_dir)
    h = hashlib.sha256((corpus_dir / "tracks.jsonl").read_bytes())
    for track in Corpus(corpus_dir):
        h.update(file_sha256(track.audio).encode())
    return h.hexdigest()


def model_figures(evaluation_json: str | Path, row_prefix: str) -> dict[str, float]:
    """The :data:`SCORED` figures of the fused row named ``row_prefix + " fused"`` in an evaluation's JSON."""
    rows = json.loads(Path(evaluation_json).read_text(encoding="utf-8"))
    rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    name = f"{row_prefix} fused"
    row = next((r for r in rows if r.get("name") == name), None)
    if row is None:
        raise CheckpointError(f"{evaluation_json}: no row named {name!r}; evaluate the checkpoint first "
                              "('sapphire evaluate --corpus DIR --model CKPT --json')")
    out = {}
    for task, metric in SCORED:
        value = (row.get(task) or {}).get(metric)
        if isinstance(value, (int, float)) and value == value:
            out[f"{task} {metric}"] = float(value)
    return out


def score(figures: dict[str, float], keys) -> float:
    """Mean of ``figures`` over ``keys`` (the figures both records have)."""
    keys = list(keys)
    return sum(figures[k] for k in keys) / len(keys) if keys else float("nan")


def publish(checkpoint: str | Path, *, corpus_dir: str | Path, evaluation_json: str | Path,
            force: bool = False, commit: str = "unknown", command: str = "make model") -> dict[str, Any]:
    """Install ``checkpoint`` as the base model with its training record.

    Parameters
    ----------
    checkpoint : path
        A checkpoint written by ``sapphire train``.
    corpus_dir : path
        The corpus it was trained on (hashed into the record).
    evaluation_json : path
        ``ablation.json`` of ``sapphire evaluate --model CHECKPOINT`` on held-out works.
    force : bool
        Replace the shipped model even when the figures are not better.
    commit, command : str
        Recorded as the code version and the command that reproduces the model.

    Returns
    -------
    dict
        The new record.

    Raises
    ------
    CheckpointError
        When the checkpoint is over :data:`MAX_BYTES`, or the figures do not beat the shipped model's.
    """
    from sapphire_core.checkpoint import load_checkpoint

    checkpoint = Path(checkpoint)
    size = checkpoint.stat().st_size
    if size > MAX_BYTES:
        raise CheckpointError(f"{checkpoint}: {size / 2**20:.1f} MB is over the {MAX_BYTES // 2**20} MB the "
                              "package may carry; use smaller output_dim/hidden in the config")
    payload = load_checkpoint(checkpoint)
    config = payload["config"]
    figures = model_figures(evaluation_json, str(config.get("name", "model")))
    old = base_record().get("evaluation", {})
    common = sorted(set(old) & set(figures))
    if old and not force and not score(figures, common) > score(old, common):
        raise CheckpointError(f"{checkpoint}: mean of {', '.join(common)} is {score(figures, common):.3f}, not "
                              f"better than the shipped base model's {score(old, common):.3f}; "
                              "keep the shipped one (or pass --force)")
    build = Path(corpus_dir) / "build_report.json"
    params = json.loads(build.read_text(encoding="utf-8")).get("params") if build.is_file() else None
    record = {"config": config, "corpus": str(corpus_dir), "corpus_sha256": corpus_content_hash(corpus_dir),
              "corpus_params": params,
              "commit": commit, "command": command, "epoch": payload["meta"].get("epoch"),
              "evaluation": figures, "checkpoint_bytes": size}
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, CHECKPOINT)
    RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


__all__ = ["CHECKPOINT", "MAX_BYTES", "RECORD", "base_checkpoint", "base_record", "corpus_content_hash",
           "model_figures", "publish"]
