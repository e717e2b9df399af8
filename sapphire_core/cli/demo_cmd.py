"""``sapphire demo --out DIR`` (``make demo``): the whole chain on the small demo corpus, each step
skipping work already done: corpus -> extract -> describe -> train -> index -> one search per mode
-> evaluation table -> analysis report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from sapphire_core.cli import demo_narration as N
from sapphire_core.cli.common import app, console, err_console, progress_bar

DEFAULT_CONFIG = Path("configs/default.yaml")


def _config_path(config: Path | None) -> Path:
    if config is not None:
        return config
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    import sapphire_core

    return Path(sapphire_core.__file__).resolve().parents[1] / DEFAULT_CONFIG


def _step(n: int, title: str) -> None:
    console.rule(f"[bold cyan]{n}. {title}")


def _say(sentence: str) -> None:
    """What the step showed (see :mod:`.demo_narration`), set apart from the step's own output."""
    if sentence:
        console.print(f"[bold]→[/] {sentence}", highlight=False)


def pick_queries(corpus_dir: Path, val_ids: list[str]) -> dict:
    """One query per mode from the held-out works: an excerpt, a hum, a lyrics snippet and a text."""
    from sapphire_core.data import Corpus

    corpus = Corpus(corpus_dir)
    val = set(val_ids) or {t.id for t in corpus.tracks}
    val_works = {corpus[i].work_id for i in val if i in {t.id for t in corpus.tracks}}
    qfile = corpus_dir / "queries.jsonl"
    queries = [json.loads(x) for x in qfile.read_text().splitlines() if x.strip()] if qfile.is_file() else []
    out: dict = {}
    ex = [q for q in queries if q.get("kind") == "excerpt" and q.get("source_track") in val]
    if ex:
        # the 10 s excerpt when the corpus has several lengths (the excerpt target)
        out["example"] = next((q for q in ex if q.get("seconds") == 10), ex[0])
    # one query of each other kind (plugin query modes, e.g. a hum), from held-out works
    modes: dict[str, dict] = {}
    for q in queries:
        if q.get("kind") not in (None, "excerpt", "copy") and q.get("work_id") in val_works:
            modes.setdefault(q["kind"], q)
    if modes:
        out["modes"] = modes
    for t in corpus.tracks:
        if t.id in val and t.lyrics:
            lines = [ln for ln in t.lyrics.splitlines() if ln.strip()]
            out["lyrics"] = {"text": " ".join(lines[:2]), "work_id": t.work_id}
            break
    first = next((corpus[i] for i in sorted(val) if i in {t.id for t in corpus.tracks}), None)
    if first is not None:
        fam = first.metadata.get("instrument_family", "")
        words = {"voice": "choir", "keyboard": "piano", "strings": "string", "organ": "organ"}.get(fam, fam)
        out["text"] = {"text": f"a {first.metadata.get('mode', '')} key {first.metadata.get('era', '')} piece "
                               f"for {words}".replace("  ", " "), "work_id": first.work_id,
                       # what the text asks for, to count the results that have it
                       "wants": {k: first.metadata.get(k) for k in ("mode", "era", "instrument_family")
                                 if first.metadata.get(k)}}
    return out


def showcase_searches(engine, registry, corpus_dir: Path, picks: dict, *, k: int = 5) -> None:
    """Step 6: one search per picked query (:func:`pick_queries`), each table followed by what it showed."""
    from sapphire_core.cli.search_cmd import render_results
    from sapphire_core.errors import SapphireError

    # (title, query, excluded ids, what to say of the results): each search ends with a measured sentence
    runs = []
    example_ranks: dict[str, int | None] = {}
    if "example" in picks:
        q = picks["example"]
        work = q["work_id"]

        def on_example(results, who="the trained model", work=work):
            example_ranks[who] = N.first_rank(results, work)
            return N.found_sentence("excerpt", work, example_ranks[who], k, other=True)

        runs.append((f"example: excerpt of {q['source_track']} ({q['duration']:.0f} s); other versions of "
                     f"{q['work_id']} should rank high", {"audio": corpus_dir / q["audio"]}, {q["source_track"]},
                     on_example))
        # The same excerpt through every plugin mode that answers excerpt queries (e.g. version search).
        for name in registry.names("query_mode"):
            mode = registry.get("query_mode", name)
            if mode.input == "audio" and "excerpt->audio" in mode.evaluates:
                runs.append((f"example again, by the '{name}' query mode ({mode.title or name})",
                             {name: corpus_dir / q["audio"]}, {q["source_track"]},
                             lambda results, who=(mode.title or name): on_example(results, who)))
    if "text" in picks:
        wants = picks["text"].get("wants") or {}
        runs.append((f"text: \"{picks['text']['text']}\"", {"text": picks["text"]["text"]}, set(),
                     lambda results: N.attributes_sentence(results, wants)))
    for kind, q in picks.get("modes", {}).items():
        if kind in registry.names("query_mode"):
            runs.append((f"{kind}: {q['audio']} (from {q['work_id']})", {kind: corpus_dir / q["audio"]}, set(),
                         lambda results, kind=kind, work=q["work_id"]:
                         N.found_sentence(kind, work, N.first_rank(results, work), k)))
    if "lyrics" in picks:
        work = picks["lyrics"]["work_id"]
        runs.append((f"lyrics: \"{picks['lyrics']['text'][:70]}\" (from {work})",
                     {"lyrics": picks["lyrics"]["text"]}, set(),
                     lambda results, work=work: N.found_sentence("lyrics", work, N.first_rank(results, work), k)))
    for title, query, exclude, about in runs:
        try:
            results = engine.search(**query, k=k, exclude=exclude)
            render_results(results, title=title)
            _say(about(results))
        except (SapphireError, ValueError) as exc:
            console.print(f"[yellow]{title}: skipped[/] ({exc})")
    if len(example_ranks) > 1:
        _say(N.comparison_sentence(example_ranks, k))


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("data/demo"), "--out", help="Demo folder: the corpus, runs/, index/, eval/, report/."),
    config: Path = typer.Option(None, "--config", help="Modality set to train [default: configs/default.yaml]."),
    device: str = typer.Option(None, "--device", help="cpu or cuda [default: cuda when available]."),
    force: bool = typer.Option(False, "--force", help="Redo evaluation and analysis even if present."),
) -> None:
    """Run the whole SAPPHIRE chain on the small demo corpus (each step reuses finished work)."""
    from sapphire_core.errors import SapphireError

    t0 = time.perf_counter()
    try:
        _run(out, _config_path(config), device, force)
    except SapphireError as exc:
        err_console.print(f"[bold red]demo stopped:[/] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: rerun 'make demo' to continue where it stopped")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - a newcomer sees one line, not a traceback
        err_console.print(f"[bold red]demo failed:[/] {type(exc).__name__}: {exc}")
        err_console.print("rerun with 'python -X dev -m sapphire_core.cli demo' for details, or report the issue")
        raise typer.Exit(1) from None
    console.print(f"[bold green]demo finished[/] in {time.perf_counter() - t0:.0f} s")


def _run(out: Path, config: Path, device: str | None, force: bool) -> None:
    from sapphire_core.cache import FeatureCache
    from sapphire_core.layout import cache_dir as default_cache_dir
    from sapphire_core.config import load_config
    from sapphire_core.corpus import ensure_demo_corpus
    from sapphire_core.data import Corpus
    from sapphire_core.plugins import default_registry

    _step(1, "demo corpus")
    corpus_dir = Path(ensure_demo_corpus(out))
    corpus = Corpus(corpus_dir)
    console.print(f"{len(corpus)} tracks in {corpus_dir}")
    qfile = corpus_dir / "queries.jsonl"
    kinds = [json.loads(x).get("kind", "?") for x in qfile.read_text().splitlines() if x.strip()] \
        if qfile.is_file() else []
    _say(N.corpus_sentence([t.work_id for t in corpus.tracks], kinds))

    registry = default_registry()
    cfg = load_config(config, registry)
    _step(2, f"extract features ({config})")
    from sapphire_core.extraction import extract_corpus
    from sapphire_core.model import build_extractors

    extractors = [e for g in build_extractors(cfg, registry).values() for e in g]
    cache_dir = default_cache_dir(corpus_dir)
    with progress_bar("extracting", len(corpus)) as advance:
        report = extract_corpus(corpus.tracks, extractors, FeatureCache(cache_dir), workers=1,
                                failures_path=cache_dir / "failures.jsonl", on_progress=lambda r: advance())
    console.print(report.summary())
    _say(N.extraction_sentence(tracks=len(report.results), computed=sum(r.computed for r in report.results),
                               cached=sum(r.cached for r in report.results), failed=len(report.failures)))

    _step(3, "describe tracks (template backend)")
    desc = corpus_dir / "descriptions.jsonl"
    if desc.is_file() and sum(1 for _ in desc.open()) >= len(corpus):
        console.print(f"reusing {desc}")
    else:
        from sapphire_core.describe.corpus import describe_corpus

        with progress_bar("describing", len(corpus)) as advance:
            describe_corpus(corpus_dir, backend="template", per_track=cfg.training.descriptions_per_track,
                            registry=registry, on_progress=advance)
        console.print(f"wrote {desc}")
    per_track = [len(json.loads(x).get("descriptions") or []) for x in desc.read_text().splitlines() if x.strip()]
    _say(N.descriptions_sentence(per_track))

    _step(4, f"train {cfg.name}")
    from sapphire_core.evaluation.runs import ensure_trained, finished_checkpoint

    run_dir = corpus_dir / "runs" / cfg.name
    if finished_checkpoint(run_dir, cfg.training.epochs):
        console.print(f"reusing the finished run {run_dir}")
        ckpt = run_dir / "model.ckpt"
    else:
        with progress_bar("training (steps)", 0) as advance:
            ckpt = ensure_trained(config, corpus_dir, run_dir, registry=registry, device=device,
                                  on_step=lambda rec: advance())
    from sapphire_core.checkpoint import load_checkpoint

    meta = load_checkpoint(ckpt).get("meta", {})
    m = meta.get("metrics") or {}
    if m:
        console.print("validation audio->audio after training: " +
                      ", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)))
    _say(N.training_sentence(m, meta.get("untrained_metrics")))

    _step(5, "index")
    from sapphire_core.index.builder import build_index

    index_dir = corpus_dir / "index"
    with progress_bar("indexing", len(corpus)) as advance:
        state = {"done": 0}

        def on_progress(done, _total):
            advance(done - state["done"])
            state["done"] = done

        rep = build_index(ckpt, corpus_dir, index_dir, registry=registry, device=device, on_progress=on_progress)
    console.print(f"{index_dir}: {rep.summary()}")
    _say(N.index_sentence(indexed=rep.indexed, extras=rep.extras, failed=len(rep.failures)))

    _step(6, "one search of each mode (queries from held-out works)")
    from sapphire_core.retrieval import SearchEngine

    engine = SearchEngine.open(index_dir, registry=registry)
    picks = pick_queries(corpus_dir, meta.get("val_ids") or [])
    showcase_searches(engine, registry, corpus_dir, picks)

    _step(7, "evaluation (held-out works; baselines in the same run)")
    from sapphire_core.cli.evaluate_cmd import print_report_table
    from sapphire_core.evaluation.evaluate import EvaluationReport, run_evaluation

    eval_dir = corpus_dir / "eval"
    ab = eval_dir / "ablation.json"
    if ab.is_file() and not force and ab.stat().st_mtime > ckpt.stat().st_mtime:
        payload = json.loads(ab.read_text())
        report = EvaluationReport(payload["rows"], payload["context"], {"md": eval_dir / "ablation.md",
                                                                       "csv": eval_dir / "ablation.csv",
                                                                       "json": ab})
        console.print(f"reusing {ab}")
    else:
        report = run_evaluation(corpus_dir, models=[ckpt], out_dir=eval_dir, registry=registry,
                                device=device or "cpu", extras_dir=index_dir,
                                log=lambda s: console.print(f"[dim]{s}[/]"))
    print_report_table(report)
    console.print(f"tables: {report.files['md']}")
    _say(N.evaluation_sentences(report.rows))

    _step(8, "analysis report")
    from sapphire_core.analysis import analyze

    page = corpus_dir / "report" / "index.html"
    if page.is_file() and not force and page.stat().st_mtime > ab.stat().st_mtime:
        console.print("reusing the analysis report")
    else:
        page = analyze(corpus_dir, corpus_dir / "report", model=ckpt, registry=registry, ablation=ab,
                       log=lambda s: console.print(f"[dim]{s}[/]"))
    console.print(f"[bold]analysis report:[/] {page.resolve()}")
    _say(N.report_sentence(page.read_text(encoding="utf-8", errors="replace")))
