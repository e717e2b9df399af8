"""The ``sapphire`` command line.

Each sub-command lives in its own module that adds itself to :data:`app`; modules import
only light dependencies at module level (heavy ones inside the command), so ``sapphire
--help`` stays fast. A later issue adds its module name to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from sapphire_core.cli.common import app

COMMAND_MODULES = [
    "plugins_cmd",
    "config_cmd",
    "extract_cmd",
    "train_cmd",
    "describe_cmd",
    "tune_cmd",
    "corpus_cmd",
    "index_cmd",
    "search_cmd",
    "library_cmd",
    "evaluate_cmd",
    "analyze_cmd",
    "demo_cmd",
    "model_cmd",
    "serve_cmd",
    "feedback_cmd",
]

for _name in COMMAND_MODULES:
    importlib.import_module(f"sapphire_core.cli.{_name}")


def main() -> None:
    """Entry point of the ``sapphire`` console script: SapphireErrors print as one clear line, exit 2."""
    from sapphire_core.errors import SapphireError

    try:
        # Non-standalone click returns a typer.Exit's code instead of raising it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SapphireError as exc:
        from sapphire_core.cli.common import err_console

        err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        # Usage errors (bad option values): typer vendors its own click, so match on the interface.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
