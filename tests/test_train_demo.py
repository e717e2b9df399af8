"""The default fused model, trained briefly on the rendered demo corpus on CPU, retrieves other versions of
unseen works better than the same model untrained.

Features come from the shared cache ``<corpus>/.sapphire/cache`` (extracted once, reused by other tests);
the checkpoint is evaluated independently of the trainer, through the shared embedding path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sapphire_core.cache import FeatureCache
from sapphire_core.cli.extract_cmd import default_cache_dir
from sapphire_core.config import load_config
from sapphire_core.data import Corpus
from sapphire_core.embedding import embed_tracks
from sapphire_core.model import SapphireModel, load_model
from sapphire_core.plugins import default_registry
from sapphire_core.training import train
from sapphire_core.evaluation.metrics import leave_one_out_metrics

REPO = Path(__file__).resolve().parents[1]
#: Exactly configs/default.yaml (4 epochs: a CPU run of a few minutes).
TEST_OVERRIDES: list[str] = []
MARGIN_MRR = 0.03


@pytest.mark.slow
def test_trained_default_model_beats_untrained_on_unseen_works(demo_corpus, tmp_path, capsys):
    registry = default_registry()
    cfg = load_config(REPO / "configs" / "default.yaml", registry, overrides=TEST_OVERRIDES)
    result = train(cfg, demo_corpus, tmp_path / "run", registry=registry, device="cpu")

    model, meta = load_model(result.checkpoint, registry)
    corpus = Corpus(demo_corpus)
    val = [corpus[i] for i in meta["val_ids"]]
    train_works = {corpus[i].work_id for i in meta["train_ids"]}
    assert val and not train_works & {t.work_id for t in val}  # validation works are unseen
    cache = FeatureCache(default_cache_dir(demo_corpus))

    def score(m):
        emb = embed_tracks(m, val, cache, batch_size=16)  # the trainer's batches: same padding
        works = [corpus[i].work_id for i in emb.ids]
        return leave_one_out_metrics(emb.fused, works)

    trained = score(model)
    torch.manual_seed(cfg.training.seed)  # the trainer's initialisation
    untrained = score(SapphireModel(cfg, registry).eval())
    with capsys.disabled():
        print(f"\n[demo corpus, {len(val)} val tracks] untrained top1 {untrained['top1']:.3f} MRR {untrained['MRR']:.3f}"
              f" -> trained top1 {trained['top1']:.3f} MRR {trained['MRR']:.3f}")
    assert untrained["queries"] == trained["queries"] >= 10
    # The trainer's own epoch-0 / last-epoch figures agree with this independent evaluation.
    assert result.metrics["untrained"]["MRR"] == pytest.approx(untrained["MRR"], abs=1e-4)
    assert result.metrics["val"]["MRR"] == pytest.approx(trained["MRR"], abs=1e-4)
    assert trained["MRR"] >= untrained["MRR"] + MARGIN_MRR
    assert trained["top1"] >= untrained["top1"]
