"""SAPPHIRE vocal modality plugin: CREPE pitch, vocal performance features and query by humming."""
