"""``python -m sapphire_core.cli``: the ``sapphire`` command, e.g. under ``python -X dev`` for a full traceback
(what ``sapphire demo`` suggests when it fails)."""

from sapphire_core.cli import main

main()
