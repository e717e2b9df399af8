"""``sapphire ab-report``, ``sapphire finetune`` and ``sapphire export``: using the listeners' judgements."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sapphire_core.cli.common import app, console


@app.command("ab-report")
def ab_report(
    db: Path = typer.Argument(..., help="Feedback database written by 'sapphire serve'."),
    out: Path = typer.Option(None, "--out", help="Folder for report.json and the plots."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Interval level."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Win rate per model pair (binomial test, Wilson interval), inter-rater agreement, per-query breakdown."""
    from sapphire_core.feedback.report import ab_report as build, format_report

    report = build(db, out_dir=out, confidence=confidence)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        console.print(format_report(report), highlight=False, markup=False)


@app.command("finetune")
def finetune(
    model: Path = typer.Option(..., "--model", help="Parent checkpoint."),
    feedback: Path = typer.Option(..., "--feedback", help="Feedback database."),
    out: Path = typer.Option(..., "--out", help="New checkpoint (written only if held-out agreement holds)."),
    index: Path = typer.Option(None, "--index", help="Index built with --model (source of the track embeddings)."),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus folder (instead of --index)."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache of --corpus."),
    heldout: float = typer.Option(0.25, "--heldout", min=0.01, max=0.9, help="Share of judgements held out."),
    steps: int = typer.Option(300, "--steps", min=1),
    lr: float = typer.Option(3e-3, "--lr", min=0.0),
    margin: float = typer.Option(0.2, "--margin", min=0.0),
    bt_weight: float = typer.Option(1.0, "--bt-weight", min=0.0, help="Weight of the Bradley-Terry A/B term."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
) -> None:
    """Fine-tune the fusion head from triplet and A/B judgements; exit 1 when the result is not kept."""
    from sapphire_core.feedback.finetune import finetune as run

    result = run(model, feedback, out, index=index, corpus=corpus, cache_dir=cache, heldout_fraction=heldout,
                 steps=steps, lr=lr, margin=margin, bt_weight=bt_weight, seed=seed, device=device)
    console.print(result.summary(), highlight=False, markup=False)
    console.print(f"judgements: {result.counts}", highlight=False, markup=False)
    if not result.saved:
        raise typer.Exit(1)


@app.command("export")
def export(
    db: Path = typer.Argument(..., help="Feedback database."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    table: str = typer.Option("ab", "--table", help="ab, triplets, ab_trials or sessions."),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl."),
) -> None:
    """Export judgements to CSV or JSONL."""
    from sapphire_core.feedback.store import FeedbackError, FeedbackStore

    if not db.is_file():
        raise FeedbackError(f"{db}: feedback database not found")
    with FeedbackStore(db) as store:
        n = store.export(out, table=table, fmt=fmt)
    console.print(f"wrote {n} {table} rows to {out}")
