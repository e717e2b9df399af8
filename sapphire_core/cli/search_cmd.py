"""``sapphire search INDEX --audio FILE | --text "..." | --lyrics "..." | --query MODE=VALUE``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sapphire_core.cli.common import app, console


def render_results(results, *, title: str = "results") -> None:
    """Print results as a rich table with each explanation beneath (shared with ``sapphire demo``)."""
    from rich.markup import escape
    from rich.table import Table

    # Titles, track ids, explanations and lyrics lines are data ("[Chorus]", "[model@sha]"): escaped,
    # so rich prints them instead of reading them as markup.
    table = Table(title=escape(title), show_lines=True)
    for col in ("#", "track", "score", "what it shares"):
        table.add_column(col, overflow="fold")
    for r in results:
        e = r.explanation or {}
        meta = r.metadata or {}
        label = escape(r.track_id)
        bits = [meta.get(k) for k in ("composer", "era", "instrument_family", "key") if meta.get(k)]
        if bits:
            label += "\n[dim]" + escape(" · ".join(str(b) for b in bits)) + "[/]"
        lines = [e.get("summary", "")]
        if e.get("modalities"):
            lines.append("modalities: " + ", ".join(f"{m} {v:.0%}" for m, v in
                                                    sorted(e["modalities"].items(), key=lambda kv: -kv[1])))
        if e.get("subspaces"):
            lines.append("sub-spaces: " + ", ".join(f"{m} {v:+.0%}" for m, v in
                                                    sorted(e["subspaces"].items(), key=lambda kv: -kv[1])))
        for name, side in e.items():  # each explanation's interpretable values, query | result
            if not (isinstance(side, dict) and side.get("result")):
                continue
            q, res = side.get("query") or {}, side["result"]
            names = [n for n in res if n in q] or list(res)
            if q:  # the values where query and result differ most, side by side
                names.sort(key=lambda n: -abs(res[n]["percentile"] - q[n]["percentile"]))
                lines.append(f"{name} query|result: " + ", ".join(
                    f"{n.replace('_', ' ')} {q[n]['level']}|{res[n]['level']}" for n in names[:4]))
            else:
                lines.append(f"{name}: " + ", ".join(f"{n.replace('_', ' ')} {res[n]['level']}" for n in names[:4]))
        if e.get("words"):
            lines.append("words: " + ", ".join(
                f"{x['word']} {x['score']:+.3f}" + (f" ({top})" if (top := max(x["subspaces"], default=None,
                                                                             key=x["subspaces"].get)) else "")
                for x in e["words"][:4]))
        for hit in e.get("lyrics_lines") or []:
            lines.append(f"lyrics: \"{hit['line']}\" ({', '.join(hit['words'])})")
        if e.get("seeds") and len(e["seeds"]) + len(e.get("negative") or {}) > 1:
            lines.append("cosine to seeds: " + ", ".join(f"{s} {v:.3f}" for s, v in e["seeds"].items()))
        if e.get("negative"):
            lines.append("cosine to negative seeds: "
                         + ", ".join(f"{s} {v:.3f}" for s, v in e["negative"].items()))
        if e.get("duplicates"):
            lines.append("same recording as: " + ", ".join(e["duplicates"]))
        if len(e.get("modes", {})) > 1:
            lines.append("modes: " + ", ".join(f"{m} {v:.3f}" for m, v in e["modes"].items()))
        table.add_row(str(r.rank), label, f"{r.score:.3f}", escape("\n".join(x for x in lines if x)))
    console.print(table)


@app.command("search")
def search(
    index: Path = typer.Argument(..., help="Index folder built by 'sapphire index'."),
    audio: Path = typer.Option(None, "--audio", help="Query by example: a whole track or an excerpt."),
    text: str = typer.Option(None, "--text", help="Free-text description."),
    lyrics: str = typer.Option(None, "--lyrics", help="Lyrics text."),
    query: list[str] = typer.Option([], "--query", "-q", help="A plugin query mode, MODE=VALUE (e.g. hum=my_humming.wav "
                                    "with the vocal plugin); repeatable."),
    weights: str = typer.Option(None, "--weights", help="Sub-space weights, e.g. tempo=0,key=2."),
    mode_weights: str = typer.Option(None, "--mode-weights", help="Weights of combined modes, e.g. audio=1,text=0.5."),
    k: int = typer.Option(10, "--k", min=1, help="Results to return."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Let plugin modes that refine audio queries "
                                "(e.g. version alignment) lift the results they match strongly."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Search an index by example, text, lyrics or a plugin's query mode (combinable), with explanations."""
    from sapphire_core.retrieval import SearchEngine, SearchError, parse_weights

    plugin_queries = {}
    for item in query:
        mode, sep, value = item.partition("=")
        if not sep or not mode.strip() or not value:
            raise SearchError(f"--query {item!r} is not MODE=VALUE (e.g. --query hum=my_humming.wav)")
        plugin_queries[mode.strip()] = value
    if not any(v is not None for v in (audio, text, lyrics)) and not plugin_queries:
        raise SearchError("give a query: --audio FILE, --text \"...\", --lyrics \"...\" or --query MODE=VALUE")
    engine = SearchEngine.open(index, device=device)
    results = engine.search(audio=audio, text=text, lyrics=lyrics, weights=parse_weights(weights),
                            mode_weights=parse_weights(mode_weights) or None, k=k, refine=refine,
                            **plugin_queries)
    if as_json:
        typer.echo(json.dumps({"model_version": engine.model_version, "index_version": engine.index_version,
                               "results": [r.to_dict() for r in results]}, indent=2, default=str))
        return
    shown = " + ".join(f"{m} {v!s}" for m, v in (("audio", audio), ("text", text), ("lyrics", lyrics),
                                                 *plugin_queries.items()) if v is not None)
    render_results(results, title=f"{shown}  [{engine.model_version}]")
