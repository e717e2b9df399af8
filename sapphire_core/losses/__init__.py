"""Loss plugins shipped with the core (registered by :mod:`sapphire_core.builtin`).

Each loss declares ``needs_text`` / ``needs_view2`` / ``feature_targets`` and the label fields it
reads, so the trainer builds only the inputs the configured losses read. Losses that need a
plugin's features (the acoustic plugin's ``midlevel``) ship with that plugin.
"""

from sapphire_core.losses.conditional_triplet import ConditionalTripletLoss
from sapphire_core.losses.content_weighted import ContentWeightedInfoNCELoss
from sapphire_core.losses.infonce import InfoNCELoss
from sapphire_core.losses.ntxent import NTXentLoss
from sapphire_core.losses.version_contrastive import VersionContrastiveLoss

LOSSES = [InfoNCELoss, ContentWeightedInfoNCELoss, NTXentLoss, ConditionalTripletLoss, VersionContrastiveLoss]
