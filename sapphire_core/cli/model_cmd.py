"""``sapphire model info|publish``: the base model shipped with sapphire-core, and how it is replaced."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sapphire_core.cli.common import app, console

model_app = typer.Typer(help="The base model that 'sapphire index' uses when no --model is given.",
                        no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("info")
def info(as_json: bool = typer.Option(False, "--json", help="Print the training record as JSON.")) -> None:
    """Where the base model is, how it was trained (config, corpus hash, commit) and how well it does."""
    from sapphire_core.base_model import base_checkpoint, base_record

    path = base_checkpoint()
    record = base_record()
    if as_json:
        typer.echo(json.dumps({"checkpoint": str(path), **record}, indent=2))
        return
    console.print(f"base model: {path} ({path.stat().st_size / 2**20:.1f} MB)")
    for key in ("commit", "command", "corpus", "corpus_sha256", "epoch"):
        console.print(f"  {key}: {record.get(key)}")
    for name, value in (record.get("evaluation") or {}).items():
        console.print(f"  {name}: {value:.3f}")


@model_app.command("publish")
def publish_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by 'sapphire train'."),
    corpus: Path = typer.Option(..., "--corpus", help="The corpus it was trained on (hashed into the record)."),
    evaluation: Path = typer.Option(..., "--evaluation", help="ablation.json of 'sapphire evaluate --model CHECKPOINT' "
                                    "on held-out works."),
    force: bool = typer.Option(False, "--force", help="Replace the shipped model even if its figures are not better."),
) -> None:
    """Install CHECKPOINT as the base model, only if its evaluation beats the shipped one's."""
    from sapphire_core.base_model import CHECKPOINT, publish
    from sapphire_core.evaluation.quality import git_commit

    record = publish(checkpoint, corpus_dir=corpus, evaluation_json=evaluation, force=force,
                     commit=git_commit(Path(__file__).parent))
    console.print(f"[green]base model[/] {CHECKPOINT}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in record["evaluation"].items()))
