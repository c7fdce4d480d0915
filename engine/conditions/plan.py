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


@dataclass(frozen=True)
class OpenEvidence:
    """What a retrieval condition found for an open-ended request, before it is fitted
    to the window (engine.conditions.open_items does the fitting the same way for all).

    `context` is the condition's own record (the agentic trace), merged into the stored
    context; `aux_calls` are the model calls the search made, so their cost is counted.
    """

    chunks: list = field(default_factory=list)
    aux_calls: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
