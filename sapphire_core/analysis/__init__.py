"""Corpus and model analysis: feature/modality statistics, maps and triplet radar charts (``sapphire analyze``)."""

from sapphire_core.analysis.report import analyze

__all__ = ["analyze"]
