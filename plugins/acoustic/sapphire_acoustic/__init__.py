"""SAPPHIRE acoustic modality plugin: perceptual spectra, rhythm, mid-level perceptual features and audio encoders."""
