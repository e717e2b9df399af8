"""SAPPHIRE structure modality plugin: segmentation, repetition and harmonic progression."""
