"""``sapphire index [--model CKPT] --corpus DIR --out INDEX``: embed a corpus into a searchable index folder."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, progress_bar


@app.command("index")
def index(
    model: Path = typer.Option(None, "--model", help="Checkpoint written by 'sapphire train' [default: the base "
                               "model shipped with sapphire-core, see 'sapphire model info'], or 'none' for an "
                               "index with no model: a plugin's training-free similarity (audio queries, similar, "
                               "playlist; no text)."),
    vector_mode: str = typer.Option(None, "--vector-mode", help="With --model none: the training-free query mode "
                                    "whose vectors fill the index [default: the first installed, e.g. sounds_like]."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    out: Path = typer.Option(..., "--out", help="Index folder (an existing one is updated in place)."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache [default: CORPUS/.sapphire/cache]."),
    device: str = typer.Option(None, "--device", help="cuda or cpu [default: cuda when available]."),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    chunk_size: int = typer.Option(64, "--chunk-size", min=1, help="Mean tracks per resumable chunk (its boundaries "
                                   "follow track ids, so an edit re-embeds only the chunk around it)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes extracting missing features and "
                                "computing the index extras (as 'sapphire extract --workers'; each gets its "
                                "share of the cores)."),
    engine: str = typer.Option("local", "--engine", help="local, or ray for a Ray cluster."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --engine ray)."),
    extras: bool = typer.Option(True, "--extras/--no-extras", help="Build the installed plugins' index extras "
                                "(e.g. track melodies for humming queries)."),
    as_json: bool = typer.Option(False, "--json", help="Print what the build did as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad tracks.jsonl line, and exit non-zero "
                                "if any track fails."),
) -> None:
    """Embed every track (batched, resumable, failures reported) into a vector index with its metadata.

    Bad tracks.jsonl lines and failed tracks are reported (INDEX/failures.jsonl) and skipped. Exit 1 only
    when no track was indexed, or with --strict on any failure.
    """
    from rich.markup import escape

    from sapphire_core.data import Corpus
    from sapphire_core.index.builder import build_index

    training_free = model is not None and str(model) == "none" and not model.exists()
    if vector_mode is not None and not training_free:
        from sapphire_core.errors import ConfigError

        raise ConfigError("--vector-mode only applies to an index without a model: add --model none")
    if model is None:
        from sapphire_core.base_model import base_checkpoint

        model = base_checkpoint()
    data = Corpus(corpus, strict=strict)
    data.require_tracks()
    total = len(data)
    with progress_bar("indexing", total) as advance:
        state = {"done": 0}

        def on_progress(done: int, _total: int) -> None:
            advance(done - state["done"])
            state["done"] = done

        if training_free:
            from sapphire_core.index.training_free import build_training_free_index

            report = build_training_free_index(
                corpus, out, mode=vector_mode, extras=extras, strict=strict, workers=workers,
                on_extra_progress=lambda n: on_progress(min(total, state["done"] + n), total))
        else:
            report = build_index(model, corpus, out, cache_dir=cache, chunk_size=chunk_size, batch_size=batch_size,
                                 device=device, engine=engine, address=address, on_progress=on_progress,
                                 extras=extras, strict=strict, workers=workers)
    if as_json:
        import dataclasses
        import json

        typer.echo(json.dumps(dataclasses.asdict(report), indent=2, default=str))
        if report.indexed == 0 or (strict and report.failures):
            raise typer.Exit(1)
        return
    console.print(f"[green]index[/] {out}: {report.summary()}")
    for name, count in report.extras.items():
        console.print(f"extra {name}: {count} tracks")
    for line in report.skipped[:10]:
        console.print(f"[red]skipped[/] {escape(line)}", highlight=False)
    for tid, err in list(report.failures.items())[:10]:
        console.print(f"[red]failed[/] {escape(tid)}: {escape(err.splitlines()[0] if err else '')}", highlight=False)
    for tid, warnings in list(report.warnings.items())[:10]:
        console.print(f"[yellow]warning[/] {escape(tid)}: {escape('; '.join(warnings))}", highlight=False)
    if report.failures or report.skipped:
        console.print(f"failures written to {out / 'failures.jsonl'}")
    if report.warnings:
        console.print(f"warnings written to {out / 'warnings.jsonl'}")
    if report.indexed == 0 or (strict and report.failures):
        raise typer.Exit(1)
