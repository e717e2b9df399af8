"""Conditional triplet margin loss: one triplet loss per named sub-space of the unified embedding,
each with its own label (conditional similarity networks, Veit et al. 2017; Lee et al. 2020,
"Disentangled multidimensional metric learning for music similarity"; Ribecky et al.).

Built on pytorch-metric-learning rather than rewritten: each sub-space uses
:class:`~pytorch_metric_learning.miners.TripletMarginMiner` (``type_of_triplets="semihard"``,
Schroff et al. 2015) and :class:`~pytorch_metric_learning.losses.TripletMarginLoss`, both with
the same injected distance. For a mined triplet ``(a, p, n)``::

    l = max(0, d(a, p) - d(a, n) + margin)

averaged over triplets with ``l > 0`` (the library's ``AvgNonZeroReducer``), then over the
sub-spaces that had any triplet, each scaled by its weight.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from pydantic import Field

from sapphire_core.loss import Loss, LossInputs

#: Sub-space names whose label has another name in tracks.jsonl.
LABEL_ALIASES = {"instrument": "instrument_family", "tempo": "tempo_class", "genre": "form", "style": "collection"}
#: The pseudo sub-space name that means "the whole embedding".
WHOLE = "all"


def make_distance(name: str):
    """A pytorch-metric-learning distance object: ``cosine`` or ``euclidean`` (L2 on normalised vectors).

    Raises
    ------
    ValueError
        For another name, listing the choices.
    """
    from pytorch_metric_learning import distances

    if name == "cosine":
        return distances.CosineSimilarity()
    if name == "euclidean":
        return distances.LpDistance(normalize_embeddings=True, p=2)
    raise ValueError(f"unknown triplet distance {name!r}; choose cosine or euclidean")


def subspace_triplet(embeddings: torch.Tensor, labels: torch.Tensor, *, miner, loss_fn) -> tuple[torch.Tensor, int]:
    """Mine and score triplets in one sub-space; rows labelled ``-1`` are dropped.

    Returns ``(loss, number_of_mined_triplets)``.
    """
    keep = labels >= 0
    emb, lab = embeddings[keep], labels[keep]
    if emb.shape[0] < 3 or lab.unique().numel() < 2:
        return embeddings.sum() * 0.0, 0
    triplets = miner(emb, lab)
    n = int(triplets[0].numel())
    if n == 0:
        return embeddings.sum() * 0.0, 0
    return loss_fn(emb, lab, triplets), n


class ConditionalTripletLoss(Loss):
    """Semi-hard triplet margin loss per named sub-space, each conditioned on its own label.

    ``subspaces`` maps a sub-space name (from the fusion head's ``subspaces``, or ``all`` for
    the whole embedding) to the label it is trained on; by default every sub-space of the
    fusion head uses the label of the same name (``instrument`` -> ``instrument_family``,
    ``tempo`` -> ``tempo_class``), and ``all`` uses ``work``.
    """

    name = "conditional_triplet"
    class Config(Loss.Config):
        margin: float = Field(0.2, gt=0)
        distance: str = Field("cosine", pattern="^(cosine|euclidean)$")
        type_of_triplets: str = Field("semihard", pattern="^(all|hard|semihard|easy)$")
        subspaces: dict[str, str] = Field(default_factory=dict,
                                          description="sub-space -> label; empty = every fusion sub-space")
        include_whole: bool = Field(True, description="also a triplet loss on the whole embedding with 'work'")
        subspace_weights: dict[str, float] = Field(default_factory=dict)

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        from pytorch_metric_learning import losses, miners

        distance = make_distance(self.config.distance)
        # One distance object injected into both, so mining and scoring agree on geometry.
        self.miner = miners.TripletMarginMiner(margin=self.config.margin, type_of_triplets=self.config.type_of_triplets,
                                               distance=distance)
        self.triplet = losses.TripletMarginLoss(margin=self.config.margin, distance=distance)
        self.last_counts: dict[str, int] = {}

    def label_fields(self, subspaces: dict[str, slice]) -> set[str]:
        return set(self.plan(subspaces).values())

    def plan(self, subspaces: dict[str, slice]) -> dict[str, str]:
        """Which label each sub-space is trained on for this batch layout."""
        if self.config.subspaces:
            plan = dict(self.config.subspaces)
        else:
            plan = {name: LABEL_ALIASES.get(name, name) for name in subspaces}
            if self.config.include_whole:
                plan[WHOLE] = "work"
        return plan

    def compute_loss(self, inputs: LossInputs) -> torch.Tensor:
        plan = self.plan(inputs.subspaces)
        total = inputs.audio.sum() * 0.0
        weight_sum = 0.0
        self.last_counts = {}
        for space, label in plan.items():
            if space == WHOLE:
                emb = inputs.audio
            elif space in inputs.subspaces:
                emb = inputs.audio[:, inputs.subspaces[space]]
            else:
                raise ValueError(f"conditional_triplet: no sub-space {space!r}; the fusion head has "
                                 f"{sorted(inputs.subspaces) + [WHOLE]}. Add it to fusion.subspaces.")
            if label not in inputs.labels:
                raise ValueError(f"conditional_triplet: sub-space {space!r} needs label {label!r}; the batch has "
                                 f"{sorted(inputs.labels)}")
            emb = F.normalize(emb.float(), dim=-1)
            loss, n = subspace_triplet(emb, inputs.labels[label], miner=self.miner, loss_fn=self.triplet)
            self.last_counts[space] = n
            if n:
                w = float(self.config.subspace_weights.get(space, 1.0))
                total = total + w * loss
                weight_sum += w
        return total / weight_sum if weight_sum else total
