"""Zero-shot classification through the text tower (CLIP, Radford et al. 2021, sec. 3.1.4; MusCALL):
each class is the mean text embedding of a few prompt templates, a track takes the class whose
prompt embedding is most similar to its audio embedding."""

from __future__ import annotations

import numpy as np

#: Prompt templates per label dimension; ``{}`` is the class name.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "era": ("a piece of {} music", "music from the {} era", "a {} composition"),
    "instrument_family": ("music played on {} instruments", "a piece for {}", "{} music"),
    "mode": ("a piece in a {} key", "music in {} mode", "a {} key piece"),
}
_CLASS_WORDS = {"keyboard": "keyboard", "strings": "string", "organ": "organ", "voice": "vocal",
                "woodwind": "woodwind", "brass": "brass", "guitar": "guitar", "mixed": "mixed ensemble"}


def class_prompts(dimension: str, classes: list[str]) -> dict[str, list[str]]:
    templates = TEMPLATES.get(dimension, ("{} music",))
    return {c: [t.format(_CLASS_WORDS.get(c, c) if dimension == "instrument_family" else c) for t in templates]
            for c in classes}


def zero_shot(audio: np.ndarray, labels: list[str], embed_text, *, dimension: str) -> dict[str, float]:
    """Accuracy and macro one-vs-rest ROC-AUC of zero-shot classification.

    Parameters
    ----------
    audio : np.ndarray
        ``(N, D)`` unit audio embeddings.
    labels : list of str
        The true class of each track.
    embed_text : callable
        ``list[str] -> (M, D)`` unit text embeddings in the same space.
    dimension : str
        Which templates to use.
    """
    from sklearn.metrics import roc_auc_score

    classes = sorted(set(labels))
    if len(classes) < 2:
        return {"accuracy": float("nan"), "roc_auc": float("nan"), "classes": float(len(classes))}
    prompts = class_prompts(dimension, classes)
    protos = []
    for c in classes:
        e = np.asarray(embed_text(prompts[c]), np.float64).mean(axis=0)
        protos.append(e / max(np.linalg.norm(e), 1e-12))
    scores = np.asarray(audio, np.float64) @ np.stack(protos).T
    y = np.array([classes.index(lab) for lab in labels])
    acc = float((scores.argmax(axis=1) == y).mean())
    try:
        if len(classes) == 2:
            auc = float(roc_auc_score(y, scores[:, 1] - scores[:, 0]))
        else:
            z = np.exp(10 * (scores - scores.max(axis=1, keepdims=True)))
            auc = float(roc_auc_score(y, z / z.sum(axis=1, keepdims=True), multi_class="ovr", average="macro",
                                      labels=list(range(len(classes)))))
    except ValueError:  # a class absent from the evaluated tracks
        auc = float("nan")
    return {"accuracy": acc, "roc_auc": auc, "classes": float(len(classes)), "chance": 1.0 / len(classes)}
