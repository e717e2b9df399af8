"""``run_evaluation``: models and configs -> systems -> the ablation table (see :mod:`.runner` for the tasks)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sapphire_core.data import Corpus
from sapphire_core.errors import SapphireError
from sapphire_core.evaluation.report import write_tables
from sapphire_core.evaluation.runner import (EvalData, ModeScores, _default_registry, baseline_systems,
                                             evaluate_system, model_systems, query_mode_rows, refined_rows)


@dataclass
class EvaluationReport:
    rows: list[dict[str, Any]]
    context: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def row(self, name: str) -> dict[str, Any]:
        for r in self.rows:
            if r["name"] == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {', '.join(r['name'] for r in self.rows)}")


def evaluation_tracks(corpus: Corpus, meta: dict | None) -> tuple[list[str], bool]:
    """The tracks to evaluate on, and whether no model under evaluation trained on them.

    ``meta`` is the first checkpoint's metadata (None: no checkpoint, every track). Its ``val_ids``
    are used when they are in the corpus; otherwise, for a corpus the model never saw (e.g. held-out
    works rendered another way), every track whose work is not among its ``train_ids``' works
    (ids are ``<work_id>__<variant>``).
    """
    ids = [t.id for t in corpus.tracks]
    if meta is None:
        return ids, True
    known = set(ids)
    val = [i for i in (meta.get("val_ids") or []) if i in known]
    if val:
        return val, True
    train = set(meta.get("train_ids") or [])
    trained_works = {i.rpartition("__")[0] or i for i in train}
    unseen = [t.id for t in corpus.tracks if t.id not in train and t.work_id not in trained_works]
    if unseen and train:
        return unseen, True
    return ids, False


def provenance(corpus_dir: str | Path, checkpoints: list[Path]) -> dict[str, Any]:
    """What a report needs to be reproduced: code commit, checkpoint hashes, how the corpus was rendered."""
    import json

    from sapphire_core.evaluation.quality import git_commit
    from sapphire_core.io import file_sha256

    out: dict[str, Any] = {"commit": git_commit(Path(__file__).parent),
                           "checkpoint_sha256": ", ".join(f"{Path(c).name}={file_sha256(c)[:12]}" for c in checkpoints)}
    report = Path(corpus_dir) / "build_report.json"
    if report.is_file():
        params = json.loads(report.read_text(encoding="utf-8")).get("params", {})
        render = params.get("render") or {"name": "demo"}
        out["corpus_profile"] = (f"{params.get('size')} x{params.get('variants')}, "
                                 f"{'held-out works' if params.get('include_heldout') else 'training works'}, "
                                 f"profile {render.get('name')} (soundfonts {render.get('soundfonts', ['fluidr3'])})")
    return out


def run_evaluation(corpus_dir: str | Path, *, models: list[str | Path] = (), configs: list[str | Path] = (),
                   out_dir: str | Path | None = None, config_epochs: int | None = 2, registry=None,
                   device: str = "cpu", triplets_csv: str | Path | None = None, per_modality: bool = True,
                   msssim: bool = True, query_modes: bool = True, extras_dir: str | Path | None = None,
                   log=print) -> EvaluationReport:
    """Evaluate checkpoints and YAML configs on a corpus's held-out tracks and queries.

    Parameters
    ----------
    corpus_dir : path
    models : list of path
        Checkpoints; the first one chooses the evaluation tracks (:func:`evaluation_tracks`). With
        none, the training-free rows (baselines, plugin query modes) are measured on every track.
    configs : list of path
        Modality sets; each is trained here for ``config_epochs`` epochs into ``OUT/runs/<stem>``
        (a finished run there is reused) and evaluated like a checkpoint.
    out_dir : path, optional
        Where the tables (and config runs) go [default: ``CORPUS/.sapphire/eval``].
    config_epochs : int or None
        Epochs for config rows (None: the config's own ``training.epochs``).
    triplets_csv : path, optional
        Extra triplets in the Dim-sim CSV layout.
    per_modality : bool
        Add one row per modality encoder of each model.
    msssim : bool
        Compute the MS-SSIM correlation (spectrogram pairs; ~0.1 s per track).
    query_modes : bool
        Add one row per installed plugin query mode (e.g. the vocal plugin's query by humming).
    extras_dir : path, optional
        A folder whose ``extras/`` holds the corpus's index extras (e.g. an index built from it)
        [default: ``OUT``; built on first use].

    Raises
    ------
    SapphireError
        When nothing is given to evaluate.
    """
    from sapphire_core.cache import FeatureCache
    from sapphire_core import layout
    from sapphire_core.evaluation.runs import ensure_trained

    t0 = time.perf_counter()
    corpus = Corpus(corpus_dir)
    origin = provenance(corpus_dir, [Path(m) for m in models])  # the code as it starts, not as it ends
    out = Path(out_dir) if out_dir else layout.eval_dir(corpus_dir)
    cache_root = layout.cache_dir(corpus_dir)
    cache = FeatureCache(cache_root)
    if not models and not configs and not query_modes:
        raise SapphireError("nothing to evaluate: give --model CKPT and/or --config A.yaml, or allow query modes")

    from sapphire_core.checkpoint import load_checkpoint

    def label_of(path: Path) -> str:
        name = load_checkpoint(path).get("config", {}).get("name")
        return name if name and name != "unnamed" else (path.parent.name or path.stem)

    checkpoints: list[tuple[Path, str]] = [(Path(m), label_of(Path(m))) for m in models]
    for c in configs:
        stem = Path(c).stem
        overrides = [f"training.epochs={config_epochs}"] if config_epochs else []
        log(f"config {c}: training {config_epochs or 'its configured'} epochs (or reusing OUT/runs/{stem})")
        ckpt = ensure_trained(c, corpus_dir, out / "runs" / stem, overrides=overrides, registry=registry, device=device)
        checkpoints.append((ckpt, f"{stem} ({config_epochs} ep)" if config_epochs else stem))

    eval_ids, held_out = evaluation_tracks(corpus, load_checkpoint(checkpoints[0][0]).get("meta", {})
                                           if checkpoints else None)
    if not held_out:
        log("warning: the first checkpoint records no validation split and trained on this corpus; "
            "evaluating on ALL tracks (optimistic)")
    data = EvalData.build(corpus, eval_ids, triplets_csv=Path(triplets_csv) if triplets_csv else None)
    log(f"evaluating on {len(eval_ids)} held-out tracks of {len({corpus[i].work_id for i in eval_ids})} works; "
        f"{len(data.excerpts)} excerpt, {len(data.hums)} hum, {len(data.lyrics_queries)} lyrics queries, "
        f"{sum(len(v) for v in data.descriptions.values())} descriptions, {len(data.triplets)} triplets")
    if msssim:
        data.compute_msssim()

    rows = []
    registry = registry or _default_registry()
    modes = ModeScores(data, registry, Path(extras_dir) if extras_dir else out)
    log("baselines (chroma 2D-FTM, MFCC, random) ...")
    rows.extend(evaluate_system(b, data) for b in baseline_systems(corpus, cache_root))
    eval_set = set(eval_ids)
    for ckpt, label in checkpoints:
        log(f"embedding with {ckpt} ...")
        systems, info = model_systems(ckpt, corpus, cache, label=label, registry=registry, device=device,
                                      per_modality=per_modality)
        seen = len(eval_set & set(info["train_ids"]))
        for s in systems:
            if seen:
                s.what += f" — WARNING: trained on {seen} of the evaluation tracks"
            if info.get("epoch") is not None:
                s.what += f" [epoch {info['epoch']}]"
            rows.append(evaluate_system(s, data))
        if query_modes:  # the first system is the fused one: what the search engine ranks audio queries by
            rows.extend(refined_rows(systems[0], data, modes))
    if query_modes:
        rows.extend(query_mode_rows(data, registry, modes.extras_root, modes))
    context = {"corpus": str(Path(corpus_dir).resolve()), "eval_tracks": len(eval_ids), "held_out": held_out,
               "checkpoints": [str(c) for c, _ in checkpoints], "triplets": len(data.triplets),
               "excerpt_queries": len(data.excerpts), "copy_queries": len(data.copies), "hum_queries": len(data.hums),
               "lyrics_queries": len(data.lyrics_queries), "msssim_pairs": len(data.pairs) if msssim else 0,
               "seconds": round(time.perf_counter() - t0, 1), **origin}
    files = write_tables(rows, out, context=context)
    return EvaluationReport(rows, context, files)
