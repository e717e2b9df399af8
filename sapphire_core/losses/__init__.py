"""Loss plugins shipped with the core (registered by :mod:`sapphire_core.builtin`)."""

from sapphire_core.losses.infonce import InfoNCELoss

LOSSES = [InfoNCELoss]
