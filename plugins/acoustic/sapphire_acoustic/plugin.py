"""Registers the acoustic modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_extractors(register):
    from sapphire_acoustic.midlevel import MidLevel
    from sapphire_acoustic.perceptual import PerceptualSpectrum
    from sapphire_acoustic.rhythm import Rhythm
    from sapphire_acoustic.tonal import Tonal

    for cls in (PerceptualSpectrum, Tonal, Rhythm, MidLevel):
        register(cls)


@hookimpl
def register_encoders(register):
    from sapphire_acoustic.cnn14 import Cnn14
    from sapphire_acoustic.midlevel_mlp import MidLevelMLP
    from sapphire_acoustic.multi_input_cnn import MultiInputCNN

    for cls in (Cnn14, MultiInputCNN, MidLevelMLP):
        register(cls)


@hookimpl
def register_losses(register):
    from sapphire_acoustic.midlevel_loss import MidLevelLoss

    register(MidLevelLoss)


@hookimpl
def register_explanations(register):
    from sapphire_acoustic.midlevel import MidLevelExplanation

    register(MidLevelExplanation)
