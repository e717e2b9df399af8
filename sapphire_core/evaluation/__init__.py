"""Evaluation: retrieval metrics, triplet agreement, MS-SSIM, zero-shot, baselines and the ablation table.

Entry point: :func:`sapphire_core.evaluation.evaluate.run_evaluation` (``sapphire evaluate``).
"""

from sapphire_core.evaluation.metrics import retrieval_metrics
from sapphire_core.evaluation.triplets import Triplet, label_triplets, read_dimsim_csv, triplet_agreement

__all__ = ["retrieval_metrics", "Triplet", "label_triplets", "read_dimsim_csv", "triplet_agreement"]
