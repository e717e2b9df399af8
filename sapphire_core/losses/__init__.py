"""Loss plugins shipped with the core (registered by :mod:`sapphire_core.builtin`).

Each loss declares ``needs_text`` / ``needs_view2`` so the trainer builds only the inputs the
configured losses read.
"""

from sapphire_core.losses.conditional_triplet import ConditionalTripletLoss
from sapphire_core.losses.content_weighted import ContentWeightedInfoNCELoss
from sapphire_core.losses.infonce import InfoNCELoss
from sapphire_core.losses.ntxent import NTXentLoss
from sapphire_core.losses.version_contrastive import VersionContrastiveLoss

LOSSES = [InfoNCELoss, ContentWeightedInfoNCELoss, NTXentLoss, ConditionalTripletLoss, VersionContrastiveLoss]

try:  # the mid-level auxiliary loss exists only with the acoustic plugin's MidLevelHead
    import sapphire_acoustic.midlevel_head  # noqa: F401
except ImportError:
    pass
else:
    from sapphire_core.losses.midlevel import MidLevelLoss

    LOSSES.append(MidLevelLoss)
