"""sapphire analyze on the toy modality set: statistics with known answers, and the report on disk."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core.analysis import stats as S  # noqa: E402
from sapphire_core.analysis.features import select_features, summarise  # noqa: E402


def test_statistics_with_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300)
    X = np.stack([x, x ** 3, rng.standard_normal(300), -x], axis=1)
    C = S.spearman_matrix(X)
    assert C[0, 1] == pytest.approx(1.0) and C[0, 3] == pytest.approx(-1.0) and abs(C[0, 2]) < 0.15
    MI = S.mutual_information_matrix(X)
    assert MI[0, 1] > 1.0 > 0.1 > MI[0, 2]  # a monotone function shares much information, noise none
    r = S.pca_explained(np.stack([x, 2 * x, 0.01 * rng.standard_normal(300)], axis=1))
    assert r[0] > 0.99
    names, R = S.rsa_matrix({"a": X[:50, :2], "b": X[:50, :2] * 3, "c": rng.standard_normal((50, 2))})
    assert names == ["a", "b", "c"] and R[0, 1] == pytest.approx(1.0) and abs(R[0, 2]) < 0.2
    assert S.top_pairs(["m.a", "m.b", "x.c"], np.array([[1, .9, .2], [.9, 1, -.5], [.2, -.5, 1]])) == \
        [("m.b", "x.c", -0.5), ("m.a", "x.c", 0.2)]  # same-source pairs are left out


def test_feature_summaries():
    assert summarise("t.x", np.float32(2.0)) == {"t.x": 2.0}
    assert summarise("t.v", np.array([1.0, 2.0])) == {"t.v[0]": 1.0, "t.v[1]": 2.0}
    assert summarise("t.s", np.ones((3, 10))) == {"t.s:mean": 1.0, "t.s:std": 0.0}
    names = [f"a.{i}" for i in range(5)] + ["b.0", "c.0"]
    kept, X = select_features(names, np.zeros((2, 7)), limit=4)
    assert kept == ["a.0", "a.1", "b.0", "c.0"] and X.shape == (2, 4)  # spread over sources


def test_report_on_disk(tmp_path):
    from sapphire_core.analysis import analyze

    s = T.toy_setup()
    page = analyze(s["corpus"], tmp_path / "report", model=s["ckpt"], registry=s["registry"], maps=("tsne",),
                   log=lambda m: None)
    for png in ("feature_correlation.png", "feature_mi.png", "pca.png", "modality_rsa.png", "tsne.png",
                "triplet_radar.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000, png
    text = page.read_text()
    # self-contained: every image is embedded, nothing is linked
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 7
    assert "src=\"http" not in text and "<h2>Triplet agreement</h2>" in text and "toy_chroma" in text
