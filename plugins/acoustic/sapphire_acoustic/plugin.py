"""Registers the acoustic modality's components with SAPPHIRE (entry point ``sapphire.plugins``)."""

from sapphire_core import hookimpl


@hookimpl
def register_components(registrar):
    from sapphire_acoustic.cnn14 import Cnn14
    from sapphire_acoustic.descriptor_net import DescriptorNet
    from sapphire_acoustic.invariant_cnn import InvariantCNN
    from sapphire_acoustic.midlevel import MidLevel, MidLevelExplanation
    from sapphire_acoustic.midlevel_loss import MidLevelLoss
    from sapphire_acoustic.midlevel_mlp import MidLevelMLP
    from sapphire_acoustic.multi_input_cnn import MultiInputCNN
    from sapphire_acoustic.perceptual import PerceptualSpectrum
    from sapphire_acoustic.rhythm import Rhythm
    from sapphire_acoustic.sounds_like import DescriptorExtra, SoundsLikeMode
    from sapphire_acoustic.tonal import Tonal
    from sapphire_acoustic.versions import ChromaSequenceExtra, VersionMode

    registrar.add(PerceptualSpectrum, Tonal, Rhythm, MidLevel, Cnn14, MultiInputCNN, MidLevelMLP, InvariantCNN, DescriptorNet,
                  MidLevelLoss)
    # Mid-level values beside every search result (the extractor declares them interpretable).
    registrar.add(MidLevelExplanation)
    # Version search by chroma alignment (no training), against the indexed chroma sequences.
    registrar.add(VersionMode, ChromaSequenceExtra)
    # Perceptual similarity from descriptor blocks (no training), against the indexed descriptors.
    registrar.add(SoundsLikeMode, DescriptorExtra)
