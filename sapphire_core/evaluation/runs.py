"""Reuse or (re)train a run folder: the demo and ``sapphire evaluate --config`` never retrain a finished run."""

from __future__ import annotations

from pathlib import Path

from sapphire_core.training.trainer import MODEL_FILE, STATE_FILE


def finished_checkpoint(run_dir: str | Path, epochs: int) -> Path | None:
    """``RUN/model.ckpt`` when it holds a model trained for at least ``epochs`` epochs, else None."""
    from sapphire_core.checkpoint import load_checkpoint
    from sapphire_core.errors import CheckpointError

    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        return None
    try:
        meta = load_checkpoint(path).get("meta", {})
    except CheckpointError:
        return None
    return path if int(meta.get("epoch", 0)) >= int(epochs) and "val_ids" in meta else None


def ensure_trained(config: str | Path, corpus: str | Path, run_dir: str | Path, *, overrides: list[str] = (),
                   registry=None, device: str | None = None, on_step=None) -> Path:
    """The checkpoint of ``config`` trained on ``corpus`` in ``run_dir``: reused when finished,
    resumed when interrupted, trained otherwise."""
    from sapphire_core.config import load_config
    from sapphire_core.training import train

    cfg = load_config(config, registry, overrides=list(overrides))
    done = finished_checkpoint(run_dir, cfg.training.epochs)
    if done is not None:
        return done
    resume = (Path(run_dir) / STATE_FILE).is_file()
    return train(cfg, corpus, run_dir, registry=registry, device=device, resume=resume, on_step=on_step).checkpoint
