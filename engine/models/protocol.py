"""What the rest of SafeVet needs from a candidate model, so a second backend can provide it.

Conditions, the executor and model judges are typed against `CandidateModel`,
not against the ONNX Runtime class (engine.models.onnx_model), so they never
reach into sessions, tokenizers or KV caches. A backend implements these
members and raises `ContextLengthError` for a prompt that does not fit.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence

from engine.errors import SafeVetError
from engine.events import ProgressCallback
from engine.models.generation import Generation, GenerationSettings
from engine.models.option_scores import OptionScores


class ContextLengthError(SafeVetError):
    """A prompt does not fit in the model's context window."""


class CandidateModel(Protocol):
    """A loaded candidate: renders its own chat template, counts, scores and generates."""

    name: str
    context_length: int
    execution_provider: str            # what a run record names as where the model ran
    provider_notice: str | None        # why it is not what was asked for, when it is not
    session_info: dict[str, object]    # how it executes, recorded verbatim with each run

    def render_chat(self, messages: list[dict[str, str]],
                    add_generation_prompt: bool = True) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def score_options(self, prompts: list[str], letters: list[Sequence[str]],
                      progress: Optional[ProgressCallback] = None) -> list[OptionScores]: ...

    def generate(self, prompt: str,
                 settings: GenerationSettings | None = None) -> Generation: ...

    def generate_batch(self, prompts: Sequence[str],
                       settings: Sequence[GenerationSettings]) -> list[Generation]:
        """Each prompt under its own settings, as `generate` would give it alone (exactly
        for fp32 greedy; see the backend for quantised models), decoded together."""
        ...
