"""Hyperparameter search with Optuna (Akiba et al. 2019), resumable from its study storage.

Each trial trains the modality set with sampled overrides (learning rate, batch size, embedding
size, loss temperatures and, with several losses, loss weights) and scores validation retrieval.
The study lives in a SQLite file (``sqlite:///OUT/study.db`` by default), so a rerun with the same
``--trials N`` continues until N trials have finished instead of starting over. Parameter names are
the ``--set`` paths they override, so the best trial reads back as a ``sapphire train`` command.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sapphire_core.errors import SapphireError

log = logging.getLogger(__name__)


def suggest_overrides(trial, data: dict[str, Any], registry) -> list[str]:
    """Sample one trial's overrides for the raw modality-set dict ``data``."""
    out = []
    lr = trial.suggest_float("training.lr", 1e-4, 1e-2, log=True)
    out.append(f"training.lr={lr}")
    bs = trial.suggest_categorical("training.batch_size", [8, 16, 32])
    out.append(f"training.batch_size={bs}")
    fusion = data.get("fusion") or {}
    needed = sum((fusion.get("subspaces") or {}).values())
    dims = [d for d in (64, 128, 256, 512) if d > needed] or [max(512, needed + 64)]
    dim = trial.suggest_categorical("fusion.output_dim", dims)
    out.append(f"fusion.output_dim={dim}")
    losses = data.get("losses") or []
    for i, block in enumerate(losses):
        fields = registry.get("loss", block["name"]).Config.model_fields
        if "temperature" in fields:
            t = trial.suggest_float(f"losses.{i}.temperature", 0.03, 0.3, log=True)
            out.append(f"losses.{i}.temperature={t}")
        if len(losses) > 1:
            w = trial.suggest_float(f"losses.{i}.weight", 0.1, 1.0)
            out.append(f"losses.{i}.weight={w}")
    return out


def finished(study) -> int:
    """Trials that ran to the end (complete or pruned): what ``--trials`` counts."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done for t in study.trials)


def tune(config: str | Path, corpus_dir: str | Path, out_dir: str | Path, *, trials: int, storage: str | None = None,
         study_name: str | None = None, metric: str = "MRR", epochs: int | None = None, overrides: list[str] = (),
         registry=None, device: str | None = None, train_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run (or continue) a study until ``trials`` trials have finished.

    Parameters
    ----------
    config : path
        The YAML modality set to tune.
    corpus_dir, out_dir : path
        The corpus; the study folder (``trial_<n>/`` runs and ``study.db``).
    trials : int
        Total finished trials to reach (a rerun continues).
    storage : str, optional
        Optuna storage URL (default ``sqlite:///OUT/study.db``).
    metric : str
        Validation metric to maximise: ``MRR``, ``R@1``, ``R@5`` or ``mAP``.
    epochs : int, optional
        Epochs per trial (default: the config's ``training.epochs``).

    Returns
    -------
    dict
        ``trials`` (finished), ``best_value``, ``best_params`` (override path -> value), ``storage``.
    """
    import optuna

    from sapphire_core.config import apply_overrides, read_yaml, validate_config
    from sapphire_core.plugins import default_registry
    from sapphire_core.training.trainer import train

    if metric not in ("MRR", "top1", "top5", "mAP", "R@1", "R@5"):
        raise SapphireError(f"unknown tuning metric {metric!r}; choose MRR, top1, top5, mAP, R@1 or R@5")
    registry = registry or default_registry()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out_dir / 'study.db').resolve()}"
    base = apply_overrides(read_yaml(config), list(overrides))
    if epochs is not None:
        base = apply_overrides(base, [f"training.epochs={epochs}"])
    validate_config(base, registry, source=str(config))  # fail before the first trial
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = int((base.get("training") or {}).get("seed", 0))
    study = optuna.create_study(study_name=study_name or str(base.get("name", "sapphire")), storage=storage,
                                direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    # A resumed study must not replay the first run's random start-up samples.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))

    def objective(trial) -> float:
        sampled = suggest_overrides(trial, base, registry)
        cfg = validate_config(apply_overrides(base, sampled), registry, source=f"{config} (trial {trial.number})")
        result = train(cfg, corpus_dir, out_dir / f"trial_{trial.number}", registry=registry, device=device,
                       evaluate_untrained=False, **(train_kwargs or {}))
        value = float((result.metrics.get("val") or {}).get(metric, 0.0))
        trial.set_user_attr("overrides", sampled)
        return value

    remaining = max(0, trials - finished(study))
    if remaining:
        study.optimize(objective, n_trials=remaining, catch=(SapphireError,))
    best = study.best_trial if finished(study) else None
    return {"trials": finished(study), "best_value": best.value if best else float("nan"),
            "best_params": dict(best.params) if best else {}, "storage": storage,
            "study": study.study_name}
