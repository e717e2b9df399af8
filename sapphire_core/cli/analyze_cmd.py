"""``sapphire analyze --corpus DIR --out REPORT/ [--model CKPT]``."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console


@app.command("analyze")
def analyze(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    out: Path = typer.Option(..., "--out", help="Report folder (PNGs + index.html)."),
    model: Path = typer.Option(None, "--model", help="Checkpoint: adds modality statistics, maps and radar charts."),
    ablation: Path = typer.Option(None, "--ablation", help="ablation.json from 'sapphire evaluate' for the radar charts."),
    no_umap: bool = typer.Option(False, "--no-umap", help="Skip the UMAP map (its first run compiles for a minute)."),
) -> None:
    """Correlation / mutual information, PCA, t-SNE + UMAP maps and triplet radar charts as one HTML page."""
    from sapphire_core.analysis import analyze as run

    page = run(corpus, out, model=model, ablation=ablation, maps=("tsne",) if no_umap else ("tsne", "umap"),
               log=lambda m: console.print(f"[dim]{m}[/]"))
    console.print(f"[green]report[/] {page}")
