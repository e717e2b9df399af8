"""Listener feedback: the judgement store, listening-test sessions, reports, fine-tuning and active learning.

Modules
-------
store
    :class:`FeedbackStore`, SQLite (WAL) of A/B and triplet judgements, with CSV/JSONL export.
sessions
    :class:`SessionSpec`, listening-test sessions defined in a small YAML file.
report
    ``sapphire ab-report``: win rates with binomial tests, inter-rater agreement, plots.
finetune
    ``sapphire finetune``: refine the fusion head from triplet and A/B judgements.
active
    Pick the triplets the model is least sure about.
"""
