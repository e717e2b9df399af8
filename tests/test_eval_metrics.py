"""Own retrieval metrics against hand-computed values and against torchmetrics."""

import numpy as np
import pytest
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP, RetrievalMRR, RetrievalRecall

from sapphire_core.evaluation.metrics import cosine_matrix, leave_one_out_metrics, relevance_ranks, retrieval_metrics


def test_hand_computed():
    s = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.9, 0.5, 0.4], [0.1, 0.2, 0.3, 0.4]])
    r = np.array([[False, True, True, False], [True, False, False, False], [False, False, False, False]])
    m = retrieval_metrics(s, r, ks=(1, 2))
    # query 0: relevant at ranks 2, 3; query 1: relevant at rank 4; query 2: no relevant item -> skipped
    assert m["queries"] == 2 and m["skipped"] == 1
    assert m["R@1"] == 0.0 and m["R@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["top2"] == 0.5
    assert m["MRR"] == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert m["median_rank"] == 3.0
    assert m["mAP@10"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 4) / 2)
    assert m["mAP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 4) / 2)
    assert retrieval_metrics(s, r, ks=(1, 2), map_k=2)["mAP@2"] == pytest.approx((1 / 2 + 0) / 2)


def test_valid_mask_removes_the_query_itself():
    s = np.array([[1.0, 0.5, 0.9]])
    r = np.array([[True, True, False]])
    assert relevance_ranks(s, r)[0].tolist() == [1, 3]
    assert relevance_ranks(s, r, valid=np.array([[False, True, True]]))[0].tolist() == [2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchmetrics(seed):
    rng = np.random.default_rng(seed)
    Q, N = 30, 25
    # torchmetrics treats non-positive scores as non-relevant, so compare on positive scores
    scores = rng.random((Q, N)) + 0.01
    rel = rng.random((Q, N)) < 0.15
    rel[np.arange(Q), rng.integers(0, N, Q)] = True  # every query has a relevant item
    ours = retrieval_metrics(scores, rel, ks=(1, 5, 10), map_k=10)
    preds = torch.tensor(scores.ravel(), dtype=torch.float32)
    target = torch.tensor(rel.ravel())
    indexes = torch.arange(Q).repeat_interleave(N)
    for k in (1, 5, 10):
        assert ours[f"R@{k}"] == pytest.approx(float(RetrievalRecall(top_k=k)(preds, target, indexes=indexes)), abs=1e-6)
        assert ours[f"top{k}"] == pytest.approx(float(RetrievalHitRate(top_k=k)(preds, target, indexes=indexes)),
                                                abs=1e-6)
    assert ours["mAP@10"] == pytest.approx(float(RetrievalMAP(top_k=10)(preds, target, indexes=indexes)), abs=1e-6)
    assert ours["mAP"] == pytest.approx(float(RetrievalMAP()(preds, target, indexes=indexes)), abs=1e-6)
    assert ours["MRR"] == pytest.approx(float(RetrievalMRR()(preds, target, indexes=indexes)), abs=1e-6)


def test_cosine_matrix():
    a = np.array([[3.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(cosine_matrix(a, a), [[1, 2 ** -0.5], [2 ** -0.5, 1]], atol=1e-12)


def test_leave_one_out_is_the_table_metric_with_the_query_removed():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((12, 5))
    groups = [f"w{i // 3}" for i in range(12)]
    g = np.array(groups)
    valid = ~np.eye(12, dtype=bool)
    want = retrieval_metrics(cosine_matrix(e, e), g[:, None] == g[None, :], valid=valid)
    assert leave_one_out_metrics(e, groups) == want
