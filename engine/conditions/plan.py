"""What a condition hands to the runner: the exact prompt and a record of why."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PromptPlan:
    """The prompt actually sent, plus exactly what the condition added.

    `context` is stored with the result (evidence text, chunk ids and scores,
    token counts, agentic trace, malformed flag) so a reviewer can see what the
    model saw; `aux_calls` are the extra model calls the condition made before
    the answer (agentic search turns), so their cost is counted with it.
    """

    condition: str
    prompt_text: str
    letters: list[str]
    context: dict[str, Any] = field(default_factory=dict)
    aux_calls: list[dict[str, Any]] = field(default_factory=list)
