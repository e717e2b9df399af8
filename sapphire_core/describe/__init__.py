"""Description backends shipped with the core (registered by :mod:`sapphire_core.builtin`).

``template`` is the offline default; ``openai`` talks to any OpenAI-compatible endpoint.
:mod:`sapphire_core.describe.corpus` writes ``descriptions.jsonl`` for a whole corpus.
"""

from sapphire_core.describe.openai_backend import DescriptionError, OpenAIDescriber
from sapphire_core.describe.template import TemplateDescriber

BACKENDS: list[type] = [TemplateDescriber, OpenAIDescriber]

__all__ = ["BACKENDS", "DescriptionError", "OpenAIDescriber", "TemplateDescriber"]
