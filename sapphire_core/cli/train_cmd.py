"""``sapphire train CONFIG --corpus DIR --out RUN``: train a modality set; resumable."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="YAML modality set (configs/default.yaml, ...)."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    out: Path = typer.Option(..., "--out", help="Run folder: model.ckpt, state.pt, metrics.jsonl, curves.png."),
    set_: list[str] = typer.Option([], "--set", help="Config override key.path=value (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from RUN/state.pt when it exists."),
    restart: bool = typer.Option(False, "--restart", help="Discard an interrupted run in RUN and start over "
                                 "(without --resume or --restart, an interrupted run is refused)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 [default: cuda when available]."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache [default: CORPUS/.sapphire/cache]."),
    workers: int = typer.Option(None, "--workers", min=1, help="Processes for extracting uncached features [default: CPU count]."),
    checkpoint_every: int = typer.Option(0, "--checkpoint-every", min=0, help="Also save state every N steps."),
    checkpoint_seconds: float = typer.Option(600.0, "--checkpoint-seconds", help="Also save state this often."),
    mlflow: str = typer.Option(None, "--mlflow", help="MLflow tracking URI, e.g. sqlite:///mlflow.db."),
    max_parameters: int = typer.Option(
        None, "--max-parameters", min=1, help="Refuse a model with more parameters than this [default: 200,000,000]."),
) -> None:
    """Train on CPU or GPU (run under torchrun for several GPUs/nodes); SIGTERM saves a resumable state."""
    from sapphire_core.config import DEFAULT_PARAMETER_BUDGET, check_parameter_budget, load_config
    from sapphire_core.plugins import default_registry
    from sapphire_core.training import train
    from sapphire_core.training.trainer import guard_run_folder

    # Checked (without deleting anything) before the config is even read, so the answer comes at once.
    guard_run_folder(out, resume=resume, restart=restart, remove=False)
    registry = default_registry()
    cfg = load_config(config, registry, overrides=set_)
    # Before any allocation: a typo such as output_dim: 1000000 must not try to allocate terabytes.
    check_parameter_budget(cfg, registry, budget=max_parameters or DEFAULT_PARAMETER_BUDGET, source=str(config))
    console.print(f"training [bold]{cfg.name}[/] on {corpus} -> {out}")
    result = train(cfg, corpus, out, registry=registry, device=device, resume=resume, restart=restart, cache_dir=cache,
                   checkpoint_every=checkpoint_every, checkpoint_seconds=checkpoint_seconds, mlflow_uri=mlflow,
                   extract_workers=workers)
    m = result.metrics
    before, after = m.get("untrained") or {}, m.get("val") or {}
    console.print(f"{m['train_tracks']} train / {m['val_tracks']} val tracks, {m['global_step']} steps, "
                  f"{m['samples_per_s']:.1f} samples/s, data wait {100 * m['data_wait_share']:.1f}%, "
                  f"{m['seconds']:.0f} s")
    if after:
        console.print("validation audio->audio: " + ", ".join(
            f"{k} {before.get(k, float('nan')):.3f} -> {after[k]:.3f}" for k in ("top1", "MRR", "mAP")
            if k in after))
    console.print(f"checkpoint: {result.checkpoint}")
