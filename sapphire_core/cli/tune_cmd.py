"""``sapphire tune CONFIG --corpus DIR --trials N``: Optuna hyperparameter search, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console


@app.command("tune")
def tune_command(
    config: Path = typer.Argument(..., help="YAML modality set to tune."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    trials: int = typer.Option(20, "--trials", min=1, help="Total trials the study should reach."),
    out: Path = typer.Option(Path("runs/tune"), "--out", help="Folder for the study and each trial's run."),
    storage: str = typer.Option(None, "--storage", help="Optuna storage [default: sqlite:///OUT/study.db]."),
    study: str = typer.Option(None, "--study", help="Study name [default: the config's name]."),
    metric: str = typer.Option("MRR", "--metric", help="Validation metric to maximise (MRR, R@1, R@5, mAP)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs per trial [default: the config's]."),
    set_: list[str] = typer.Option([], "--set", help="Config override key.path=value."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ..."),
) -> None:
    """Search learning rate, batch size, embedding size, temperatures and loss weights; a rerun continues the study."""
    from sapphire_core.training.tune import tune

    result = tune(config, corpus, out, trials=trials, storage=storage, study_name=study, metric=metric,
                  epochs=epochs, overrides=set_, device=device)
    console.print(f"{result['trials']} trials in {result['storage']}; best {metric} {result['best_value']:.4f}")
    console.print("best overrides: " + " ".join(f"--set {k}={v}" for k, v in result["best_params"].items()))
