"""SAPPHIRE lyrics modality plugin: lyrics semantics, sentiment arcs, phonetics and the text tower."""
