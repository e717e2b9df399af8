"""``sapphire analyze``: feature and modality statistics, embedding maps and triplet radar charts,
as PNGs plus one self-contained HTML page (images embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from sapphire_core.analysis import stats as S
from sapphire_core.data import Corpus

COLOUR_BY = ("era", "instrument_family", "tonic", "mode")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap(M: np.ndarray, labels: list[str], title: str, path: Path, *, vmin=None, vmax=None, cmap="RdBu_r") -> Path:
    plt = _plt()
    n = len(labels)
    size = max(5.0, 0.28 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(M, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    if n <= 8:
        for a in range(n):
            for b in range(n):
                ax.text(b, a, f"{M[a, b]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scatter_maps(Y: np.ndarray, labels: dict[str, list[str]], title: str, path: Path) -> Path:
    plt = _plt()
    keys = [k for k in COLOUR_BY if k in labels]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 4.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = labels[key]
        classes = sorted({v for v in values})
        cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
        for c_i, c in enumerate(classes):
            sel = [i for i, v in enumerate(values) if v == c]
            ax.scatter(Y[sel, 0], Y[sel, 1], s=14, color=cmap(c_i % cmap.N), label=c)
        ax.set_title(f"{title}: {key}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=6, loc="best", markerscale=0.8, ncol=1 if len(classes) <= 10 else 2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def radar(series: dict[str, dict[str, float]], dims: list[str], path: Path, *, title: str) -> Path:
    """A Kiviat chart: one polygon per series over ``dims`` (triplet agreement in [0, 1])."""
    plt = _plt()
    angles = np.linspace(0, 2 * np.pi, len(dims), endpoint=False).tolist()
    fig = plt.figure(figsize=(6.5, 6.5))
    ax = fig.add_subplot(111, polar=True)
    for name, values in series.items():
        v = [float(values.get(d, np.nan)) for d in dims]
        v = [0.0 if not np.isfinite(x) else x for x in v]
        ax.plot(angles + angles[:1], v + v[:1], label=name, linewidth=1.5)
        ax.fill(angles + angles[:1], v + v[:1], alpha=0.08)
    ax.set_xticks(angles, dims, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.15, -0.15), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pca_plot(curves: dict[str, np.ndarray], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in curves.items():
        ax.plot(range(1, len(r) + 1), np.cumsum(r), marker="o", markersize=3, label=f"{name} (PC1 {r[0]:.0%})")
    ax.set_xlabel("principal components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _labels(corpus: Corpus, ids: list[str]) -> dict[str, list[str]]:
    out = {}
    for key in COLOUR_BY:
        vals = [str(corpus[i].metadata.get(key, "?")) for i in ids]
        if len(set(vals)) > 1:
            out[key] = vals
    return out


def _embed_2d(E: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    if method == "tsne":
        from sklearn.manifold import TSNE

        # Exact gradients below 1000 points: Barnes-Hut's OpenMP loop crawls on a shared, busy CPU.
        return TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(E) - 1) / 4)), init="pca",
                    method="exact" if len(E) < 1000 else "barnes_hut", random_state=seed).fit_transform(E)
    import umap

    return umap.UMAP(n_neighbors=min(15, len(E) - 1), random_state=seed, n_jobs=1).fit_transform(E)


def analyze(corpus_dir: str | Path, out_dir: str | Path, *, model: str | Path | None = None, registry=None,
            ablation: str | Path | None = None, log=print, device: str = "cpu",
            maps: tuple[str, ...] = ("tsne", "umap")) -> Path:
    """Write the analysis report into ``out_dir``; returns the HTML page.

    Parameters
    ----------
    corpus_dir : path
    out_dir : path
    model : path, optional
        A checkpoint: adds modality statistics, embedding maps and triplet radar charts, and picks
        the features to analyse (its extractors). Without it, the analysis covers metadata and the
        acoustic mid-level features.
    ablation : path, optional
        An ``ablation.json`` from ``sapphire evaluate``; its triplet agreements draw the radar charts.
    maps : tuple of str
        Which 2-D maps to draw (``tsne``, ``umap``; UMAP's first call JIT-compiles for a minute).
    """
    from sapphire_core.cache import FeatureCache
    from sapphire_core.interpret import interpretations
    from sapphire_core.layout import cache_dir as default_cache_dir
    from sapphire_core.plugins import default_registry

    from sapphire_core.analysis.features import feature_table, select_features

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    registry = registry or default_registry()
    corpus = Corpus(corpus_dir)
    cache = FeatureCache(default_cache_dir(Path(corpus_dir)))
    sections: list[tuple[str, str, list[Path], str]] = []  # (title, text, images, extra html)

    extractors = []
    mdl = emb = None
    if model is not None:
        from sapphire_core.embedding import embed_tracks
        from sapphire_core.model import build_extractors, load_model

        mdl, meta = load_model(model, registry)
        mdl.registry = registry
        extractors = [e for g in build_extractors(mdl.cfg, registry).values() for e in g]
        log("embedding the corpus ...")
        emb = embed_tracks(mdl, corpus.tracks, cache, device=device)
    for spec in interpretations(registry):  # the interpretable features are analysed with or without a model
        if all(e.name != spec.extractor.name for e in extractors):
            extractors.append(spec.extractor)

    log("feature statistics ...")
    ids, fnames, X = feature_table(corpus, extractors, cache)
    fnames, X = select_features(fnames, X, limit=36)
    C = S.spearman_matrix(X)
    MI = S.mutual_information_matrix(X)
    imgs = [heatmap(C, fnames, "Spearman correlation between features", out / "feature_correlation.png", vmin=-1, vmax=1),
            heatmap(MI, fnames, "mutual information between features (nats)", out / "feature_mi.png", vmin=0,
                    cmap="viridis")]
    pairs_c = S.top_pairs(fnames, C)
    pairs_mi = S.top_pairs(fnames, MI)
    table = "<table><tr><th>feature</th><th>feature</th><th>Spearman</th></tr>" + "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{v:+.2f}</td></tr>" for a, b, v in pairs_c) + \
        "</table><table><tr><th>feature</th><th>feature</th><th>MI (nats)</th></tr>" + "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{v:.2f}</td></tr>" for a, b, v in pairs_mi) + "</table>"
    sections.append(("Features", f"{len(fnames)} scalar features of {len(ids)} tracks (summaries of the cached "
                     "extractor outputs and the metadata). Strongest relations between different sources:", imgs, table))

    curves = {"features": S.pca_explained((X - np.nanmean(X, 0)) / (np.nanstd(X, 0) + 1e-12))}
    radar_imgs: list[Path] = []
    if emb is not None and len(emb.ids) >= 5:
        curves["fused embedding"] = S.pca_explained(emb.fused)
        mods = {m: v for m, v in emb.per_modality.items()}
        if len(mods) > 1:
            mnames, R = S.rsa_matrix(mods)
            pcs = np.stack([_first_pc(v) for v in mods.values()], axis=1)
            MIm = S.mutual_information_matrix(pcs)
            sections.append(("Modalities", "Representational similarity (Spearman correlation of the track-by-track "
                             "similarity matrices) and mutual information between the first principal components "
                             "of each modality's embedding.",
                             [heatmap(R, mnames, "RSA between modalities", out / "modality_rsa.png", vmin=-1, vmax=1),
                              heatmap(MIm, mnames, "MI between modality PC1s (nats)", out / "modality_mi.png", vmin=0,
                                      cmap="viridis")], ""))
        labels = _labels(corpus, emb.ids)
        log("t-SNE and UMAP maps ...")
        drawn = []
        for method, title in (("tsne", "t-SNE"), ("umap", "UMAP")):
            if method not in maps:
                continue
            try:
                drawn.append(scatter_maps(_embed_2d(emb.fused, method), labels, title, out / f"{method}.png"))
            except Exception as exc:  # noqa: BLE001 - one failing map must not lose the report
                log(f"{title} skipped: {exc}")
        if drawn:
            sections.append(("Embedding maps", "The fused embedding of every track, coloured by label.", drawn, ""))
        radar_imgs = _radars(corpus, emb, mdl, ablation, out)
    sections.insert(1, ("PCA", "Cumulative explained variance.", [pca_plot(curves, out / "pca.png")], ""))
    if radar_imgs:
        sections.append(("Triplet agreement", "Share of label triplets each embedding orders correctly, per label "
                         "dimension (Kiviat charts as in Ribecky et al.); one polygon per sub-space.", radar_imgs, ""))
    page = out / "index.html"
    page.write_text(_html(sections, corpus_dir, model), encoding="utf-8")
    return page


def _first_pc(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E, np.float64) - np.mean(E, axis=0)
    u, s, _ = np.linalg.svd(E, full_matrices=False)
    return u[:, 0] * s[0]


def _radars(corpus: Corpus, emb, mdl, ablation, out: Path) -> list[Path]:
    from sapphire_core.evaluation.triplets import LABEL_DIMENSIONS, label_triplets, triplet_agreement

    series: dict[str, dict[str, float]] = {}
    if ablation is not None and Path(ablation).is_file():
        rows = json.loads(Path(ablation).read_text())["rows"]
        for r in rows:
            if "triplets" in r and ("fused" in r["name"] or r["name"].startswith("MFCC")):
                series[r["name"]] = r["triplets"]
                for s, v in (r.get("subspace_triplets") or {}).items():
                    series[f"{r['name']} / {s}"] = v
    else:
        tracks = corpus.tracks
        trips = label_triplets(tracks, per_dimension=150, seed=0)
        vecs = dict(zip(emb.ids, emb.fused))
        series["fused (all tracks)"] = triplet_agreement(vecs, trips)
        for s, sl in mdl.subspaces.items():
            series[f"sub-space {s}"] = triplet_agreement(vecs, trips, subspace=sl)
    dims = [d for d in LABEL_DIMENSIONS if any(d in v for v in series.values())]
    if len(dims) < 3 or not series:
        return []
    return [radar(series, dims, out / "triplet_radar.png", title="triplet agreement per dimension")]


def _html(sections, corpus_dir, model) -> str:
    def img(p: Path) -> str:
        data = base64.b64encode(Path(p).read_bytes()).decode()
        return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(Path(p).stem)}"><figcaption>' \
               f"{html.escape(Path(p).name)}</figcaption></figure>"

    body = "".join(f"<section><h2>{html.escape(t)}</h2><p>{html.escape(text)}</p>{''.join(img(p) for p in ims)}"
                   f"{extra}</section>" for t, text, ims, extra in sections)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>SAPPHIRE analysis</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
            "img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}table{border-collapse:collapse;margin:1em 1em 1em 0;"
            "display:inline-table;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>"
            f"<h1>SAPPHIRE analysis</h1><p>corpus: {html.escape(str(corpus_dir))}"
            f"{'; model: ' + html.escape(str(model)) if model else ''}</p>{body}</body></html>")


def summary(out_dir: Path) -> dict[str, Any]:
    return {"html": str(Path(out_dir) / "index.html"), "images": sorted(p.name for p in Path(out_dir).glob("*.png"))}
