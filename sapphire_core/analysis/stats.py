"""Pure statistics behind the analysis report."""

from __future__ import annotations

import numpy as np


def impute(X: np.ndarray) -> np.ndarray:
    """Column means in place of NaN (analysis only; never used for training)."""
    X = np.array(X, dtype=np.float64)
    means = np.nanmean(X, axis=0)
    idx = np.where(~np.isfinite(X))
    X[idx] = np.take(np.nan_to_num(means), idx[1])
    return X


def spearman_matrix(X: np.ndarray) -> np.ndarray:
    """Spearman rank correlation between columns."""
    from scipy.stats import rankdata

    R = np.apply_along_axis(rankdata, 0, impute(X))
    C = np.corrcoef(R, rowvar=False)
    return np.nan_to_num(np.atleast_2d(C))


def mutual_information_matrix(X: np.ndarray, *, seed: int = 0, n_neighbors: int = 3) -> np.ndarray:
    """Pairwise mutual information (nats) between columns, Kraskov k-NN estimator
    (Kraskov, Stoegbauer & Grassberger 2004, via scikit-learn), symmetrised."""
    from sklearn.feature_selection import mutual_info_regression

    X = impute(X)
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    F = X.shape[1]
    M = np.zeros((F, F))
    for j in range(F):
        M[:, j] = mutual_info_regression(X, X[:, j], n_neighbors=n_neighbors, random_state=seed)
    M = (M + M.T) / 2
    np.fill_diagonal(M, 0.0)  # self-information is unbounded for continuous variables; not informative
    return np.maximum(M, 0.0)


def rsa_matrix(embeddings: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Representational similarity between modalities (Kriegeskorte et al. 2008): Spearman correlation
    of the upper triangles of their track-by-track cosine similarity matrices."""
    from scipy.stats import spearmanr

    names = list(embeddings)
    tri = None
    sims = {}
    for m in names:
        E = np.asarray(embeddings[m], np.float64)
        E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        S = E @ E.T
        tri = np.triu_indices(len(S), 1)
        sims[m] = S[tri]
    out = np.eye(len(names))
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            r = spearmanr(sims[names[a]], sims[names[b]]).statistic if tri is not None else np.nan
            out[a, b] = out[b, a] = float(np.nan_to_num(r))
    return names, out


def pca_explained(X: np.ndarray, *, max_components: int = 20) -> np.ndarray:
    """Explained variance ratio of the principal components of ``X`` (centred)."""
    from sklearn.decomposition import PCA

    k = int(min(max_components, X.shape[0], X.shape[1]))
    return PCA(n_components=k).fit(impute(X)).explained_variance_ratio_


def top_pairs(names: list[str], M: np.ndarray, *, k: int = 10, cross_source: bool = True) -> list[tuple[str, str, float]]:
    """The ``k`` strongest off-diagonal entries (by absolute value), optionally only across sources."""
    out = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            if cross_source and names[a].split(".")[0] == names[b].split(".")[0]:
                continue
            out.append((names[a], names[b], float(M[a, b])))
    return sorted(out, key=lambda t: -abs(t[2]))[:k]
