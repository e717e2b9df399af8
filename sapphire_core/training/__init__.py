"""Training: split by work, cached-feature datasets with crops and views, the trainer, DDP and tuning.

Public API::

    from sapphire_core.training import train, TrainResult, split_by_work
    result = train(cfg, corpus_dir, out_dir, registry=None, device=None, resume=False)
"""

from sapphire_core.training.split import split_by_work
from sapphire_core.training.trainer import TrainingInterrupted, TrainResult, train

__all__ = ["TrainResult", "TrainingInterrupted", "split_by_work", "train"]
