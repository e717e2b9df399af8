"""``sapphire evaluate --model CKPT [--config A.yaml ...] --corpus DIR [--out DIR]``: the ablation table."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, err_console, print_table


def print_report_table(report) -> None:
    """The ablation table (transposed or Markdown when it does not fit), then the legend of each row."""
    from sapphire_core.evaluation.report import COLUMNS, _fmt, lookup

    cols = [c for c in COLUMNS if any(lookup(r, c[1]) is not None for r in report.rows)]
    title = (f"ablation ({report.context['eval_tracks']} held-out tracks)" if report.context.get("held_out")
             else "ablation (NO held-out split: all tracks)")
    print_table(title, ["system", *(head for head, _ in cols)],
                [[r["name"], *(_fmt(lookup(r, path)) for _, path in cols)] for r in report.rows])
    for r in report.rows:
        console.print(f"  [bold]{r['name']}[/]: {r['what']}", highlight=False)


@app.command("evaluate")
def evaluate(
    more_configs: list[Path] = typer.Argument(None, help="More YAML modality sets (so '--config A.yaml B.yaml' works).",
                                              show_default=False),
    model: list[Path] = typer.Option([], "--model", help="Checkpoint(s); the first one's validation split is used."),
    config: list[Path] = typer.Option([], "--config", help="YAML modality set(s), trained briefly here."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl (+ queries.jsonl)."),
    out: Path = typer.Option(None, "--out", help="Output folder [default: CORPUS/.sapphire/eval]."),
    epochs: int = typer.Option(2, "--epochs", min=1, help="Epochs for each --config row."),
    triplets: Path = typer.Option(None, "--triplets", help="Extra triplets, Dim-sim CSV layout."),
    device: str = typer.Option("cpu", "--device"),
    no_msssim: bool = typer.Option(False, "--no-msssim", help="Skip the MS-SSIM correlation."),
    report_path: Path = typer.Option(None, "--report", help="Also write this corpus' block of the quality report "
                                     "(one table per task, with provenance) into this file, e.g. docs/quality.md; "
                                     "other corpora's blocks are kept."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON instead of the table."),
) -> None:
    """Evaluate models and configs on held-out tracks: retrieval, triplets, MS-SSIM, zero-shot, baselines."""
    from sapphire_core.evaluation.evaluate import run_evaluation

    configs = list(config) + list(more_configs or [])
    note = err_console if as_json else console  # with --json, stdout is the JSON alone
    report = run_evaluation(corpus, models=list(model), configs=configs, out_dir=out, config_epochs=epochs,
                            device=device, triplets_csv=triplets, msssim=not no_msssim,
                            log=lambda m: note.print(f"[dim]{m}[/]", highlight=False))
    if as_json:
        import json

        typer.echo(json.dumps({"context": report.context, "rows": report.rows,
                               "files": {k: str(v) for k, v in report.files.items()}}, indent=2, default=str))
    else:
        print_report_table(report)
    note.print(f"tables: {report.files['md']}, {report.files['csv']}, {report.files['json']}")
    if report_path is not None:
        import shlex

        from sapphire_core.evaluation.quality import quality_markdown, update_report

        words = ["sapphire", "evaluate", "--corpus", str(corpus)] + [w for m in model for w in ("--model", str(m))]
        words += [w for c in configs for w in ("--config", str(c))] + (["--no-msssim"] if no_msssim else [])
        command = " ".join(shlex.quote(w) for w in words + ["--report", str(report_path)])
        name = corpus.name or corpus.resolve().name  # the folder as named (a link keeps its name)
        update_report(report_path, name, quality_markdown(report.rows, report.context, command=command, title=name))
        note.print(f"quality report: {report_path}")
