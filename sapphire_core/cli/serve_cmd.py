"""``sapphire serve --index INDEX``: the web app (search, A/B listening tests, triplets)."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, err_console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _open_engine(index: Path | None, corpus: Path | None, what: str):
    if index is not None and corpus is not None:
        raise typer.BadParameter(f"give either an index or a corpus for the {what}, not both")
    if index is not None:
        from sapphire_core.retrieval import SearchEngine

        return SearchEngine.open(index)
    if corpus is not None:
        from sapphire_core.webapp.memory import MemoryEngine

        return MemoryEngine.from_corpus(corpus)
    return None


def default_feedback_db(index: Path | None, corpus: Path | None) -> Path:
    """``feedback.db`` beside the index folder (or in the corpus's work folder): never the current folder,
    where it would litter a checkout."""
    if index is not None:
        return Path(index).resolve().parent / "feedback.db"
    from sapphire_core.layout import WORK_DIR

    return Path(corpus).resolve() / WORK_DIR / "feedback.db"


@app.command("serve")
def serve(
    index: Path = typer.Option(None, "--index", help="Index folder built by 'sapphire index' (the model under test)."),
    corpus: Path = typer.Option(None, "--corpus", help="Instead of --index: a chroma feature engine over a corpus."),
    baseline: Path = typer.Option(None, "--baseline", help="Index of the baseline model for A/B sessions."),
    baseline_corpus: Path = typer.Option(None, "--baseline-corpus", help="A chroma feature baseline over a corpus."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; loopback unless you mean to share it."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    db: Path = typer.Option(None, "--db", help="SQLite file the judgements go to [default: feedback.db beside "
                            "the index, or in the corpus's .sapphire folder]."),
    sessions: Path = typer.Option(None, "--sessions", help="YAML file of listening-test sessions."),
    admin_token: str = typer.Option(None, "--admin-token", envvar="SAPPHIRE_ADMIN_TOKEN",
                                    help="Token for the admin endpoints [default: a random one, printed]."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", min=0.1, help="Upload size cap."),
    max_upload_seconds: float = typer.Option(60.0, "--max-upload-seconds", min=1.0, help="Upload duration cap."),
) -> None:
    """Serve the search page, A/B listening tests and triplet judgements.

    Requests are bounded, with a clear answer: URLs 8 KiB (414), headers 16 KiB (431), JSON bodies 1 MiB (413).

    The limits are listed in sapphire_core.webapp.limits.
    """
    import secrets

    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.server import make_server

    engine = _open_engine(index, corpus, "model")
    if engine is None:
        raise typer.BadParameter("give --index INDEX (or --corpus DIR for a feature-only engine)")
    db = db if db is not None else default_feedback_db(index, corpus)
    base = _open_engine(baseline, baseline_corpus, "baseline")
    token = admin_token or secrets.token_urlsafe(18)
    web = create_app(engine, db_path=db, admin_token=token, sessions=sessions, baseline_engine=base,
                     max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_upload_seconds=max_upload_seconds)
    if host not in LOOPBACK:
        err_console.print(f"[yellow]warning:[/] binding to {host}: anyone who can reach this machine can use the app")
    console.print(f"SAPPHIRE web app on http://{host}:{port}  (judgements -> {db})")
    if admin_token is None:
        console.print(f"admin token (header X-Admin-Token): {token}")
    make_server(web, host=host, port=port, log_level="info").run()
