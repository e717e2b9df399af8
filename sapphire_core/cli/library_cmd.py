"""``sapphire similar`` and ``sapphire playlist``: workflows over a library that is already indexed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sapphire_core.cli.common import app, console
from sapphire_core.cli.search_cmd import render_results


def _print_json(engine, results, **extra) -> None:
    typer.echo(json.dumps({"model_version": engine.model_version, "index_version": engine.index_version, **extra,
                           "results": [r.to_dict() for r in results]}, indent=2, default=str))


@app.command("similar")
def similar(
    index: Path = typer.Argument(..., help="Index folder built by 'sapphire index'."),
    track: str = typer.Argument(None, help="A track id of the index or an audio file (same as one --seed)."),
    seed: list[str] = typer.Option([], "--seed", help="More like this: a track id or an audio file; repeatable."),
    negative: list[str] = typer.Option([], "--negative", "--less-like", help="Less like this; repeatable."),
    exclude_same: list[str] = typer.Option([], "--exclude-same", help="Leave out tracks sharing this with a seed: "
                                           "work, artist or album; repeatable."),
    collapse: bool = typer.Option(True, "--collapse/--no-collapse", help="Show near-duplicates (one recording "
                                  "in several files) once."),
    duplicate_cosine: float = typer.Option(None, "--duplicate-cosine", min=0.0, max=1.0,
                                           help="Cosine at which two tracks are one recording [default: 0.995]."),
    weights: str = typer.Option(None, "--weights", help="Sub-space weights, e.g. tempo=0,key=2."),
    k: int = typer.Option(10, "--k", min=1, help="Results to return."),
    explain: bool = typer.Option(False, "--explain", help="Full explanations (loads the model)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Tracks like indexed tracks or files (no re-extraction for indexed ones), with negative seeds,
    exclusions and near-duplicate collapsing."""
    from sapphire_core.retrieval import SearchEngine, parse_weights
    from sapphire_core.retrieval.neighbours import DUPLICATE_COSINE

    seeds = ([track] if track else []) + list(seed)
    if not seeds:
        raise typer.BadParameter("give a track: sapphire similar INDEX TRACK_ID_OR_FILE (or --seed, repeatable)")
    engine = SearchEngine.open(index)
    results = engine.similar(seeds, negative=negative, k=k, exclude_same=exclude_same, collapse=collapse,
                             duplicate_cosine=DUPLICATE_COSINE if duplicate_cosine is None else duplicate_cosine,
                             weights=parse_weights(weights), explain=explain)
    if as_json:
        _print_json(engine, results, seeds=seeds, negative=list(negative))
        return
    title = "like " + " + ".join(seeds) + (f", unlike {' + '.join(negative)}" if negative else "")
    render_results(results, title=f"{title}  [{engine.model_version}]")


@app.command("playlist")
def playlist(
    index: Path = typer.Argument(..., help="Index folder built by 'sapphire index'."),
    start: str = typer.Option(..., "--from", help="First track: a track id of the index or an audio file."),
    end: str = typer.Option(..., "--to", help="Last track: a track id of the index or an audio file."),
    length: int = typer.Option(10, "--length", min=2, help="Tracks in the playlist, both ends included."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A smooth path of LENGTH tracks from one track to another: no repeats, each nearer the last."""
    from rich.markup import escape
    from rich.table import Table

    from sapphire_core.retrieval import SearchEngine

    engine = SearchEngine.open(index)
    tracks = engine.playlist(start, end, length=length)
    if as_json:
        _print_json(engine, tracks, start=start, end=end, length=length)
        return
    table = Table(title=escape(f"{start} -> {end}  [{engine.model_version}]"))
    for col in ("#", "track", "cos to start", "cos to end", "cos to previous"):
        table.add_column(col, overflow="fold", justify="left" if col == "track" else "right")
    for t in tracks:
        e = t.explanation
        table.add_row(str(t.rank), escape(t.track_id), f"{e['to_start']:.3f}", f"{e['to_end']:.3f}",
                      "" if e["step"] is None else f"{e['step']:.3f}")
    console.print(table)
    if len(tracks) < length:
        console.print(f"only {len(tracks) - 2} tracks lie between these two in the index, so the playlist has "
                      f"{len(tracks)}, not {length}", highlight=False)
