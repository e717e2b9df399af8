"""The trainer: ``train(cfg, corpus_dir, out_dir)`` fits a modality set's model on a corpus.

- Data: features from the feature cache (extracted once), random crops and feature-level views
  (:mod:`sapphire_core.training.augment`), descriptions from ``descriptions.jsonl`` or the offline
  template backend, frozen text-tower embeddings precomputed once
  (:mod:`sapphire_core.training.text_cache`) so only ``model.text_projection`` trains on the text side.
- Optimisation: AdamW, linear warmup then cosine decay (Loshchilov & Hutter 2017), gradient
  clipping, AMP on CUDA (bfloat16 where supported, else float16 with a GradScaler).
- Checkpoints: ``RUN/state.pt`` (everything needed to resume: weights, optimiser, scheduler,
  scaler, RNG states, epoch and step within it, log length) is written every epoch, every
  ``checkpoint_every`` steps, every ``checkpoint_seconds`` and on SIGTERM/SIGINT; ``RUN/model.ckpt``
  (the model in :mod:`sapphire_core.checkpoint` format) every epoch. Because batch order and
  augmentations are pure functions of (seed, epoch, sample), a run killed at any point resumes
  from its last state and ends bit-for-bit where an uninterrupted run would.
- Logs: ``RUN/metrics.jsonl``, optional MLflow, ``RUN/curves.png``. Epoch 0 is the untrained model.
- Distributed: under ``torchrun`` (see :mod:`sapphire_core.training.ddp`), with embeddings
  gathered across ranks so contrastive negatives span the global batch.
"""

from __future__ import annotations

import io
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from sapphire_core.device import resolve_device
from sapphire_core.errors import ConfigError, SapphireError
from sapphire_core.loss import LossInputs
from sapphire_core.training.augment import AugmentSettings, crop_lengths
from sapphire_core.training.ddp import DistContext, any_rank, gather_nograd, gather_with_grad, init_distributed

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
MODEL_FILE = "model.ckpt"
#: Written last, when a run ends normally; a run folder with ``state.pt`` but without it was interrupted.
COMPLETE_FILE = "complete.json"


class TrainingInterrupted(SapphireError):
    """Training stopped on SIGTERM/SIGINT after saving a resumable state."""


class InterruptedRunError(SapphireError):
    """The run folder holds an interrupted run and neither ``resume`` nor ``restart`` was asked for."""


def guard_run_folder(out_dir: str | Path, *, resume: bool, restart: bool, remove: bool = True) -> None:
    """Refuse to train over an interrupted run unless told to resume or restart it.

    A run folder with ``state.pt`` but no ``complete.json`` was stopped (killed, SIGTERM, a crash):
    training into it from scratch would silently throw its progress away. With ``restart`` its
    state and completion marker are removed (when ``remove``), so the new run is judged on its own.

    Raises
    ------
    InterruptedRunError
        Naming the folder and both flags.
    ConfigError
        When both ``resume`` and ``restart`` are given.
    """
    out_dir = Path(out_dir)
    if resume and restart:
        raise ConfigError("--resume and --restart contradict each other; give one")
    state, complete = out_dir / STATE_FILE, out_dir / COMPLETE_FILE
    if restart:
        if remove:
            state.unlink(missing_ok=True)
            complete.unlink(missing_ok=True)
        return
    if state.is_file() and not complete.is_file() and not resume:
        raise InterruptedRunError(
            f"{out_dir}: holds an interrupted run ({STATE_FILE} without {COMPLETE_FILE}); continue it with "
            "'sapphire train ... --resume', or discard it and start over with 'sapphire train ... --restart'")


@dataclass
class TrainResult:
    """What :func:`train` returns: the model checkpoint and the final figures."""

    checkpoint: Path
    metrics: dict[str, Any] = field(default_factory=dict)


def text_tower_frozen(tower) -> bool:
    """Whether the text tower is frozen: ``trainable_layers == 0`` when it has that setting,
    otherwise when none of its parameters requires a gradient."""
    layers = getattr(tower.config, "trainable_layers", None)
    if layers is not None:
        return int(layers) <= 0
    return not any(p.requires_grad for p in tower.parameters())


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup over ``warmup`` steps, then cosine decay to zero at ``total`` (SGDR without restarts)."""
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


class TrainStep(nn.Module):
    """One forward pass to the weighted total loss; the unit DDP wraps.

    The losses live inside, so their parameters (learned temperatures) are synchronised by DDP too.
    """

    def __init__(self, model, losses: nn.ModuleList, *, ctx: DistContext, text_frozen: bool) -> None:
        super().__init__()
        self.model, self.losses, self.ctx, self.text_frozen = model, losses, ctx, text_frozen
        self.needs_text = any(loss.needs_text for loss in losses)
        self.needs_view2 = any(loss.needs_view2 for loss in losses)
        names = [l.name for l in losses]
        self.keys = [n if names.count(n) == 1 else f"{n}.{i}" for i, n in enumerate(names)]

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model, ctx = self.model, self.ctx
        out = model.embed_audio(batch["features"], batch["present"])
        audio = gather_with_grad(out.embedding, ctx)
        view2 = text = text_raw = None
        if self.needs_view2:
            view2 = gather_with_grad(model.embed_audio(batch["features2"], batch["present2"]).embedding, ctx)
        if self.needs_text:
            if self.text_frozen:
                text_raw = batch["text_raw"]
            else:
                text_raw = model.text_tower.encode_text(batch["texts"])
            proj = model.text_projection
            text = F.normalize(proj(text_raw.to(proj.weight.dtype)), dim=-1)
            text, text_raw = gather_with_grad(text, ctx), gather_with_grad(text_raw, ctx)
        labels = {k: gather_nograd(v, ctx) for k, v in batch["labels"].items()}
        inputs = LossInputs(audio=audio, text=text, audio_view2=view2, text_raw=text_raw, labels=labels,
                            subspaces=out.subspaces)
        total = audio.new_zeros(()).float()
        parts = {}
        for key, loss in zip(self.keys, self.losses):
            value = loss(inputs).float()
            parts[key] = value.detach()
            total = total + float(loss.config.weight) * value
        return total, parts


# ---------------------------------------------------------------------------------- helpers


@torch.no_grad()
def embed_features(model, features: list, device: torch.device, *, batch_size: int = 16) -> np.ndarray:
    """Fused L2-normalised embeddings of full-length (uncropped) track features."""
    from sapphire_core.embedding import collate_tracks

    was = model.training
    model.eval()
    out = []
    for start in range(0, len(features), batch_size):
        batch, present = collate_tracks(features[start:start + batch_size], device)
        out.append(model.embed_audio(batch, present).embedding.float().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, model.embedding_dim), np.float32)


def evaluate(model, features: list, works: list[str], device: torch.device) -> dict[str, float]:
    """Validation audio -> audio retrieval of other versions of the same work (top-1 hit rate, MRR, mAP, ...)."""
    from sapphire_core.evaluation.metrics import leave_one_out_metrics

    if not features:
        return {}
    return leave_one_out_metrics(embed_features(model, features, device), works)


def _save_bytes(path: Path, obj: Any) -> None:
    from sapphire_core.io import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class _StopFlag:
    """SIGTERM/SIGINT set a flag checked between steps (only installable from the main thread)."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.stop = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# ---------------------------------------------------------------------------------- train


def train(cfg: BaseModel | str | Path, corpus_dir: str | Path, out_dir: str | Path, *, registry=None,
          device: str | torch.device | None = None, resume: bool = False, cache_dir: str | Path | None = None,
          checkpoint_every: int = 0, checkpoint_seconds: float = 600.0, mlflow_uri: str | None = None,
          augment_settings: AugmentSettings | None = None, extract_workers: int | None = None,
          max_steps: int | None = None, evaluate_untrained: bool = True,
          on_step: Callable[[dict[str, Any]], None] | None = None, restart: bool = False) -> TrainResult:
    """Train a modality set on a corpus and write ``RUN/model.ckpt``, ``metrics.jsonl``, ``curves.png``.

    Parameters
    ----------
    cfg : BaseModel or path
        A validated modality set (:func:`sapphire_core.config.load_config`) or a YAML path.
    corpus_dir : path
        Folder with ``tracks.jsonl`` (and optionally ``descriptions.jsonl``, ``relations.jsonl``).
    out_dir : path
        The run folder.
    registry : Registry, optional
        Component registry (default: the installed plugins).
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:1``; default CUDA when available.
    resume : bool
        Continue from ``RUN/state.pt`` when it exists.
    restart : bool
        Discard an interrupted run's ``RUN/state.pt`` and start over. Without ``resume`` or ``restart``,
        a folder holding an interrupted run is refused (:func:`guard_run_folder`).
    cache_dir : path, optional
        Feature cache (default ``CORPUS/.sapphire/cache``).
    checkpoint_every : int
        Also save the resumable state every this many steps (0: only per epoch, by time and on signals).
    checkpoint_seconds : float
        Also save at least this often (wall clock).
    mlflow_uri : str, optional
        MLflow tracking URI, e.g. ``sqlite:///RUN/mlflow.db``.
    augment_settings : AugmentSettings, optional
        Strength of the feature-level augmentations (used when ``training.augment`` is true).
    extract_workers : int, optional
        Processes for extracting features missing from the cache [default: ``$SAPPHIRE_WORKERS`` or the CPU count].
    max_steps : int, optional
        Stop after this many optimiser steps in total (benchmarks, smoke tests).
    evaluate_untrained : bool
        Log validation retrieval of the untrained model as epoch 0.
    on_step : callable, optional
        Called after every step with that step's log record.

    Returns
    -------
    TrainResult
        ``checkpoint`` (``RUN/model.ckpt``) and ``metrics``: ``val`` (last epoch), ``untrained``
        (epoch 0), ``samples_per_s``, ``data_wait_share``, ``seconds``, ``steps``.

    Raises
    ------
    ConfigError
        When a loss needs text but the modality set has no text tower, or the corpus is too small.
    TrainingInterrupted
        On SIGTERM/SIGINT, after saving ``RUN/state.pt`` (rerun with ``resume=True``).
    InterruptedRunError
        When ``out_dir`` holds an interrupted run and neither ``resume`` nor ``restart`` is set.
    """
    from sapphire_core.cache import FeatureCache
    from sapphire_core.checkpoint import save_checkpoint
    from sapphire_core.io import atomic_write_bytes, remove_temp_files
    from sapphire_core import layout
    from sapphire_core.config import config_to_dict, load_config
    from sapphire_core.data import Corpus
    from sapphire_core.model import SapphireModel, build_extractors
    from sapphire_core.plugins import default_registry
    from sapphire_core.training.data import (Collator, EpochBatchSampler, TrainingData, ViewDataset, batch_to,
                                             descriptions_for, load_features, time_keys, track_duration)
    from sapphire_core.training.labels import LabelEncoder, label_fields, read_relations
    from sapphire_core.training.runlog import CURVES_FILE, MetricsLogger, plot_curves
    from sapphire_core.training.split import split_by_work, work_of
    from sapphire_core.training.text_cache import TextEmbeddingCache

    wall_start = time.perf_counter()
    registry = registry or default_registry()
    if not isinstance(cfg, BaseModel):
        cfg = load_config(cfg, registry)
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    device = resolve_device(device)
    ctx = init_distributed(device)
    # Before any work: an interrupted run must not be overwritten by accident. Only rank 0 deletes.
    guard_run_folder(out_dir, resume=resume, restart=restart, remove=ctx.is_main)
    if ctx.distributed and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    s = cfg.training
    torch.manual_seed(s.seed)
    np.random.seed(s.seed % (2**32))

    # ------------------------------------------------------------ data
    corpus = Corpus(corpus_dir)
    train_tracks, val_tracks = split_by_work(corpus.tracks, s.validation_fraction, s.seed)
    model = SapphireModel(cfg, registry)
    model.registry = registry  # so sapphire_core.embedding finds in-test components too
    losses = nn.ModuleList([registry.get("loss", block.name)(block) for block in cfg.losses])
    needs_text = any(loss.needs_text for loss in losses)
    needs_view2 = any(loss.needs_view2 for loss in losses)
    if needs_text and model.text_tower is None:
        names = [loss.name for loss in losses if loss.needs_text]
        raise ConfigError(f"losses {names} need descriptions but the modality set has no 'text:' block; add "
                          "'text: {name: minilm_text_tower}' or use losses without text (ntxent, conditional_triplet, "
                          "version_contrastive)")
    if needs_view2 and not s.augment:
        log.info("ntxent with training.augment=false: the two views differ only by their crops")
    frozen = model.text_tower is not None and text_tower_frozen(model.text_tower)
    if model.text_tower is not None and (frozen or not needs_text):
        model.text_tower.requires_grad_(False)
    if model.text_projection is not None and not needs_text:
        model.text_projection.requires_grad_(False)  # unused: DDP must not wait for its gradient

    extractors = build_extractors(cfg, registry)
    cache = FeatureCache(cache_dir or layout.cache_dir(corpus_dir))
    if ctx.is_main:  # extract once; the other ranks then read the cache
        if extract_workers is None:
            from sapphire_core.extraction import default_workers

            extract_workers = default_workers()
        train_tracks, train_feats, failed = load_features(train_tracks, extractors, cache, workers=extract_workers)
        val_tracks, val_feats, failed_val = load_features(val_tracks, extractors, cache, workers=extract_workers)
        failed.update(failed_val)
    ctx.barrier()
    if not ctx.is_main:
        train_tracks, train_feats, failed = load_features(train_tracks, extractors, cache)
        val_tracks, val_feats = [], []
    world = ctx.world_size
    batch_size = min(s.batch_size, len(train_tracks) - len(train_tracks) % world)
    batch_size -= batch_size % world
    if batch_size < max(2, world):
        raise ConfigError(f"{corpus_dir}: only {len(train_tracks)} usable training tracks; need at least "
                          f"{max(2, world)} for a batch (lower training.validation_fraction or add tracks)")

    descriptions = (descriptions_for(train_tracks, corpus_dir, per_track=s.descriptions_per_track, seed=s.seed,
                                     registry=registry) if needs_text else [[] for _ in train_tracks])
    text_raw = None
    if needs_text and frozen:
        model.text_tower.to(device)
        text_cache = TextEmbeddingCache(layout.text_cache_dir(corpus_dir), model.text_tower)
        if ctx.is_main:
            text_cache.embed([d for ds in descriptions for d in ds])
        ctx.barrier()
        text_raw = [text_cache.embed(ds) for ds in descriptions]
    fields = label_fields(losses, model.subspaces)
    encoder = LabelEncoder(corpus.tracks, read_relations(corpus_dir), names=fields)
    for name in fields:
        if not encoder.vocab[name]:
            log.warning("the losses read the label %r, but no track of %s has it: add it to tracks.jsonl", name,
                        corpus_dir / "tracks.jsonl")
    durations = [track_duration(t) for t in train_tracks]
    keys = time_keys(extractors)
    flat_feats = [{k: v for f in tf.by_modality.values() for k, v in f.items()} for tf in train_feats]
    data = TrainingData(tracks=train_tracks, features=train_feats, labels=encoder.encode_all(train_tracks),
                        descriptions=descriptions, time_keys=keys, durations=np.array(durations), text_raw=text_raw,
                        feature_targets={k: v for loss in losses for k, v in loss.feature_targets.items()},
                        crop_frames=crop_lengths(flat_feats, durations, keys, crop_seconds=s.crop_seconds))
    dataset = ViewDataset(data, augment=(augment_settings or AugmentSettings()) if s.augment else None,
                          two_views=needs_view2, seed=s.seed)
    sampler = EpochBatchSampler(data.works, batch_size=batch_size, seed=s.seed, world_size=world, rank=ctx.rank)
    steps_per_epoch = sampler.steps_per_epoch()
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=Collator(data), num_workers=s.num_workers,
        pin_memory=device.type == "cuda",
        # Its own generator: creating an iterator must not draw from the global RNG that dropout uses,
        # or a resumed run would diverge from an uninterrupted one.
        generator=torch.Generator().manual_seed(s.seed))

    # ------------------------------------------------------------ model, optimiser
    step_module = TrainStep(model, losses, ctx=ctx, text_frozen=frozen).to(device)
    runner: nn.Module = step_module
    if ctx.distributed:
        runner = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None)
    model_params = [p for p in model.parameters() if p.requires_grad]
    loss_params = [p for p in losses.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": model_params, "weight_decay": s.weight_decay},
                                   {"params": loss_params, "weight_decay": 0.0}], lr=s.lr)
    total_steps = s.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(s.warmup_steps, total_steps))
    use_amp = bool(s.amp and device.type == "cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    # ------------------------------------------------------------ resume
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    start_epoch, step_in_epoch, global_step, keep_lines = 0, 0, 0, None
    history: dict[str, Any] = {"untrained": None, "val": None}
    resumed = False
    if ctx.is_main:
        # From here the folder holds a run under way: a kill leaves state.pt without the marker.
        (out_dir / COMPLETE_FILE).unlink(missing_ok=True)
        remove_temp_files(out_dir)  # a half-written state.pt of a killed run (the last whole one is intact)
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        losses.load_state_dict(st["losses"])
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        scaler.load_state_dict(st["scaler"])
        torch.set_rng_state(st["torch_rng"])
        if device.type == "cuda" and st.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(st["cuda_rng"], device)
        start_epoch, step_in_epoch, global_step = st["epoch"], st["step_in_epoch"], st["global_step"]
        keep_lines, history = st["log_lines"], st["history"]
        resumed = True
        log.info("resuming at epoch %d step %d", start_epoch + 1, step_in_epoch)
    meta_base = {"train_ids": [t.id for t in train_tracks], "val_ids": [t.id for t in val_tracks],
                 "failed": failed, "seed": s.seed, "world_size": world, "batch_size": batch_size,
                 "subspaces": {k: [v.start, v.stop] for k, v in model.subspaces.items()},
                 "text_frozen": frozen, "corpus": str(corpus_dir)}
    logger = MetricsLogger(out_dir, enabled=ctx.is_main, mlflow_uri=mlflow_uri, keep_lines=keep_lines,
                           params={"config": config_to_dict(cfg), "batch_size": batch_size, "world_size": world},
                           run_name=out_dir.name)
    val_works = [work_of(t) for t in val_tracks]

    def save_state(epoch: int, in_epoch: int) -> None:
        if not ctx.is_main:
            return
        _save_bytes(state_path, {
            "model": model.state_dict(), "losses": losses.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "epoch": epoch, "step_in_epoch": in_epoch, "global_step": global_step, "log_lines": logger.lines,
            "history": history})

    def save_model(epoch: int) -> Path:
        path = out_dir / MODEL_FILE
        if ctx.is_main:
            save_checkpoint(path, config=config_to_dict(cfg), state_dict=model.state_dict(),
                            meta={**meta_base, "epoch": epoch, "global_step": global_step,
                                  "metrics": history["val"] or {}, "untrained_metrics": history["untrained"] or {}})
        return path

    if ctx.is_main and not resumed and evaluate_untrained:
        history["untrained"] = evaluate(model, val_feats, val_works, device)
        logger.log({"type": "val", "epoch": 0, "step": 0, **history["untrained"]})

    # ------------------------------------------------------------ loop
    data_time = compute_time = 0.0
    samples = steps_done = 0
    last_save = time.monotonic()
    stop_at = max_steps if max_steps is not None else None
    model.train()
    try:
        with _StopFlag() as flag:
            for epoch in range(start_epoch, s.epochs):
                sampler.set_epoch(epoch, start_step=step_in_epoch)
                tick = time.perf_counter()
                for batch in loader:
                    got = time.perf_counter()
                    batch = batch_to(batch, device)
                    with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                        total, parts = runner(batch)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(total).backward()
                    scaler.unscale_(optimizer)
                    grad_norm = torch.nn.utils.clip_grad_norm_(model_params + loss_params, s.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    done = time.perf_counter()
                    data_time += got - tick
                    compute_time += done - got
                    global_step += 1
                    step_in_epoch += 1
                    steps_done += 1
                    samples += batch_size
                    record = {"type": "train", "epoch": epoch + 1, "step": global_step, "loss": float(total.detach()),
                              **{f"loss/{k}": float(v) for k, v in parts.items()},
                              "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm),
                              "data_s": round(got - tick, 6), "step_s": round(done - got, 6)}
                    logger.log(record)
                    if on_step is not None:
                        on_step(record)
                    stop = any_rank(flag.stop, ctx, device)
                    due = (checkpoint_every and global_step % checkpoint_every == 0) or \
                        time.monotonic() - last_save >= checkpoint_seconds
                    if stop or due:
                        save_state(epoch, step_in_epoch)
                        last_save = time.monotonic()
                    if stop:
                        raise TrainingInterrupted(f"{out_dir}: stopped by a signal at epoch {epoch + 1}, step "
                                                  f"{step_in_epoch}; state saved to {state_path}. Resume with "
                                                  "'sapphire train ... --resume'")
                    if stop_at is not None and global_step >= stop_at:
                        break
                    tick = time.perf_counter()
                if stop_at is not None and global_step >= stop_at:
                    break
                step_in_epoch = 0
                if ctx.is_main:
                    history["val"] = evaluate(model, val_feats, val_works, device)
                    logger.log({"type": "val", "epoch": epoch + 1, "step": global_step, **history["val"]})
                    save_model(epoch + 1)
                    save_state(epoch + 1, 0)
                    last_save = time.monotonic()
                ctx.barrier()
        checkpoint = out_dir / MODEL_FILE
        if ctx.is_main:
            if not checkpoint.is_file() or (stop_at is not None and global_step >= stop_at):
                # Stopped by max_steps inside an epoch: keep what was trained (epoch = the one under way).
                checkpoint = save_model(global_step // max(1, steps_per_epoch))
            plot_curves(logger.path, out_dir / CURVES_FILE)
            atomic_write_bytes(out_dir / COMPLETE_FILE, json.dumps({"epochs": s.epochs, "global_step": global_step,
                                                                    "checkpoint": MODEL_FILE}).encode())
    finally:
        logger.close()
        ctx.barrier()
        ctx.close()
    busy = data_time + compute_time
    metrics = {"val": history["val"] or {}, "untrained": history["untrained"] or {}, "steps": steps_done,
               "global_step": global_step, "samples_per_s": samples / busy if busy else 0.0,
               "data_wait_share": data_time / busy if busy else 0.0, "seconds": time.perf_counter() - wall_start,
               "train_tracks": len(train_tracks), "val_tracks": len(val_tracks), "batch_size": batch_size}
    return TrainResult(checkpoint=out_dir / MODEL_FILE, metrics=metrics)
